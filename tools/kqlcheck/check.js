// kqlcheck: parses and analyzes each KQL file given on the command line with
// Kusto.Language (the parser and binder behind Azure Data Explorer, Log
// Analytics and the portal's editors), against the Application Insights
// tables the queries read. Unknown tables, columns, functions and operators,
// wrong argument types and syntax errors are reported with file:line:col and
// make the exit code non-zero. Nothing here can run a query: that needs a
// workspace, so the data shape itself is pinned by infra/README.md instead.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const pkg = path.dirname(require.resolve('@kusto/language-service-next/package.json'));
// The package is a Bridge.NET build that defines globals (Bridge, Kusto); it
// has no CommonJS exports, so it is evaluated into this context.
for (const f of ['bridge.min.js', 'Kusto.Language.Bridge.min.js']) {
  vm.runInThisContext(fs.readFileSync(path.join(pkg, f), 'utf8'), { filename: f });
}
const K = globalThis.Kusto.Language;
const S = K.Symbols;

// Application Insights' own (classic) schema, as an App Insights-scoped
// query (the workbook's and alert rules' scope) sees it. Only the tables the
// queries use; columns as the service documents them.
const common = 'operation_Name:string, operation_Id:string, operation_ParentId:string, ' +
  'operation_SyntheticSource:string, session_Id:string, user_Id:string, user_AuthenticatedId:string, ' +
  'user_AccountId:string, application_Version:string, client_Type:string, client_Model:string, ' +
  'client_OS:string, client_IP:string, client_City:string, client_StateOrProvince:string, ' +
  'client_CountryOrRegion:string, client_Browser:string, cloud_RoleName:string, ' +
  'cloud_RoleInstance:string, appId:string, appName:string, iKey:string, sdkVersion:string, ' +
  'itemId:string, itemType:string, itemCount:int, customDimensions:dynamic, customMeasurements:dynamic';
const tables = {
  traces: `timestamp:datetime, message:string, severityLevel:int, ${common}`,
  requests: `timestamp:datetime, id:string, source:string, name:string, url:string, success:bool, ` +
    `resultCode:string, duration:real, performanceBucket:string, ${common}`,
  exceptions: `timestamp:datetime, problemId:string, handledAt:string, type:string, message:string, ` +
    `assembly:string, method:string, outerType:string, outerMessage:string, outerAssembly:string, ` +
    `outerMethod:string, innermostType:string, innermostMessage:string, innermostAssembly:string, ` +
    `innermostMethod:string, severityLevel:int, details:dynamic, ${common}`,
};
const symbols = Object.entries(tables).map(([name, schema]) => S.TableSymbol.From(`(${schema})`).WithName(name));
const globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor('appinsights', symbols));

function lineCol(text, offset) {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node check.js FILE.kql...');
  process.exit(2);
}
let problems = 0;
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diags = code.GetDiagnostics();
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    // Warnings and suggestions (e.g. "consider has over contains") are
    // advice; errors are what the service would refuse.
    if (String(d.Severity) !== 'Error') continue;
    console.error(`${file}:${lineCol(text, d.Start)}: ${d.Message}`);
    problems++;
  }
  // A file that parses to nothing (empty, or only comments) is a mistake too:
  // the workbook and the alert rules load these files verbatim.
  const rt = code.ResultType;
  if (!rt || !(rt instanceof S.TableSymbol)) {
    console.error(`${file}: does not produce a table`);
    problems++;
  }
}
console.log(`kqlcheck: ${files.length} files, ${problems} problems`);
process.exit(problems === 0 ? 0 : 1);

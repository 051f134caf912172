// Node peer of BenchmarkIntake: the same invocation file, decoded the way a
// Node custom handler would (JSON.parse of the envelope, of Data.events, and
// of each event body), with the same category filter as the Go intake
// (internal/benchdata.Handled). Timed from the request body as a string:
// a Node Functions app (or custom handler framework) is handed the event
// as a string, so decoding the bytes is not part of the function's work.
// Prints one JSON line: the fastest, median and mean run, in MB/s (10^6
// bytes) and records/s. Usage: node peer.js FILE [RUNS]
'use strict';
const fs = require('fs');

const HANDLED = new Set(['ServicePrincipalSignInLogs', 'ServicePrincipalRiskEvents', 'RiskyServicePrincipals', 'AuditLogs']);

function once(str) {
  const inv = JSON.parse(str);
  const events = JSON.parse(inv.Data.events);
  let records = 0, handled = 0;
  for (const e of events) {
    const body = JSON.parse(e);
    for (const r of body.records) {
      records++;
      if (HANDLED.has(r.category)) handled++;
    }
  }
  return { records, handled, events: events.length };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function mean(xs) {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

const file = process.argv[2];
const runs = parseInt(process.argv[3] || '7', 10);
if (!file) {
  console.error('usage: node peer.js FILE [RUNS]');
  process.exit(2);
}
const buf = fs.readFileSync(file);
const str = buf.toString('utf8'); // as the function receives it: not timed
let res = once(str); // warm-up (JIT), not counted
const wall = [], cpu = [];
for (let i = 0; i < runs; i++) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  res = once(str);
  const t1 = process.hrtime.bigint();
  const c = process.cpuUsage(c0);
  wall.push(Number(t1 - t0) / 1e9);
  cpu.push((c.user + c.system) / 1e6);
}
const mb = buf.length / 1e6;
console.log(JSON.stringify({
  peer: 'node', from: 'string', version: process.version, bytes: buf.length, events: res.events,
  records: res.records, handled: res.handled, runs,
  best_mbps: mb / Math.min(...wall), median_mbps: mb / median(wall), mean_mbps: mb / mean(wall),
  best_rps: res.records / Math.min(...wall), median_rps: res.records / median(wall), mean_rps: res.records / mean(wall),
  cpu_best_mbps: mb / Math.min(...cpu), cpu_median_mbps: mb / median(cpu),
}));

// The Node reference for the cold-start benchmark: the smallest http server
// that answers GET / on $FUNCTIONS_CUSTOMHANDLER_PORT.
'use strict';
require('http').createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end('{}');
}).listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), '127.0.0.1');

package ledger

// ScanByServicePrincipal is the index-less path, for the benchmark that
// compares it with the index.
var ScanByServicePrincipal = scanByServicePrincipal

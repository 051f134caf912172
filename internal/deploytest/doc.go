// Package deploytest holds the deployment (infra/, functions/) to the code:
// its tests fail when the Function App's settings and the settings the
// responder and its function bindings read drift apart. It has no code of
// its own; it must not import internal/graph (its tests stay fast).
package deploytest

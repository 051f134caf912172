// Command spresponder is an incident responder for Microsoft Entra ID
// workload identities, run as an Azure Functions custom handler.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spresponder/spresponder/internal/app"
)

func main() { os.Exit(run()) }

func run() int {
	// SIGTERM is how the Functions host stops the handler: cancel the
	// context and let invocations in flight finish.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Main(ctx, os.Args[1:], app.OSEnv())
}

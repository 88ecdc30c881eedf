package connectors

import (
	"context"
	"fmt"

	"github.com/tumarproject/tumar/gateway/config"
)

// Opener opens a configured connector, resuming from the cursor its last
// complete run left ("" for the first run). Packages of connector types
// register nothing globally: the binary's composition root passes the openers
// it has.
type Opener func(ctx context.Context, c *config.Connector, cursor string) (Connector, error)

// Open opens a configured connector with the opener of its type.
func Open(ctx context.Context, c *config.Connector, cursor string, openers map[string]Opener) (Connector, error) {
	open, ok := openers[c.Type]
	if !ok {
		return nil, fmt.Errorf("connectors: no connector of type %q is built in", c.Type)
	}
	return open(ctx, c, cursor)
}

// Cursored is a connector that can resume: after a complete run, its Cursor
// is saved and given to the next Open.
type Cursored interface {
	Cursor() string
}

package connectors

import (
	"fmt"

	"github.com/tumarproject/tumar/gateway/config"
)

// Opener opens a configured connector. Packages of connector types register
// nothing globally: the binary's composition root passes the openers it has.
type Opener func(c *config.Connector) (Connector, error)

// Open opens a configured connector with the opener of its type.
func Open(c *config.Connector, openers map[string]Opener) (Connector, error) {
	open, ok := openers[c.Type]
	if !ok {
		return nil, fmt.Errorf("connectors: no connector of type %q is built in", c.Type)
	}
	return open(c)
}

package gateway

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/policy"
)

// decisionKey is everything a release decision reads, in a compact form:
// the policy (its engine, fixed to one revision), the parties' ids and
// types, the purpose and legal basis, and the record's fields as a set. A
// field's name, class, kind and generalisation come from the catalogue,
// fixed by the build, so the set stands for all of them, and for their
// order (a record keeps its fields in catalogue order).
type decisionKey struct {
	engine         *policy.Engine
	srcID, srcType string
	dstID, dstType string
	purpose, basis string
	fields         htcds.FieldSet
}

// decisions keeps the policy engine's decisions under decisionKey, in front
// of the engine's own cache: a look-up builds neither the policy's input
// (a field reference per field) nor its key (a string of every field's
// name, class, kind and generalisation), and hashes a few words instead of
// a kilobyte. A miss asks the engine, which decides (or finds its cached
// decision) from the full input.
type decisions struct {
	m sync.Map // decisionKey → *policy.Decision
	n atomic.Int64
}

// decisionsLimit bounds the cache; when full it starts afresh.
const decisionsLimit = 10000

func (d *decisions) decide(ctx context.Context, eng *policy.Engine, src, dst *config.Agency, sub *Submission) (*policy.Decision, error) {
	k := decisionKey{engine: eng, srcID: src.ID, srcType: src.Type, dstID: dst.ID, dstType: dst.Type,
		purpose: sub.Purpose, basis: sub.LegalBasis, fields: sub.Record.FieldSet()}
	if dec, ok := d.m.Load(k); ok {
		return dec.(*policy.Decision), nil
	}
	dec, err := eng.Decide(ctx, policyInput(src, dst, sub))
	if err != nil {
		return nil, err
	}
	if d.n.Add(1) > decisionsLimit {
		d.m.Clear()
		d.n.Store(1)
	}
	d.m.Store(k, dec)
	return dec, nil
}

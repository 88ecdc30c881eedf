package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/tumarproject/tumar/crypto/identity"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/internal/jsonx"
	"github.com/tumarproject/tumar/policy"
)

// released is a record after the policy's actions, ready to leave.
type released struct {
	record       json.RawMessage
	fields       *audit.EncodedFields
	actions      []actionCount // fields by action, for the metrics
	subject      *Subject
	sourceRecord string // the source's record id, pseudonymised in the destination's domain
}

// identityOf reads a record's identity through the catalogue's roles. When
// each name role has one field, as every role has today, the name is
// normalised part by part (identity.Names), once for the match keys and the
// name fields' pseudonyms both.
func identityOf(r *htcds.Record) identity.Identity {
	get := func(role htcds.Role) string {
		ids := htcds.FieldsWithRole(role)
		if len(ids) == 1 { // every role today: no joining
			v, _ := r.Get(ids[0])
			return v.Str
		}
		var parts []string
		for _, id := range ids {
			if v, ok := r.Get(id); ok && v.Str != "" {
				parts = append(parts, v.Str)
			}
		}
		return strings.Join(parts, " ")
	}
	id := identity.Identity{
		Birthdate: get(htcds.RoleBirthdate), Document: get(htcds.RoleDocument), Phone: get(htcds.RoleMobilePhone),
	}
	first, middle, last := get(htcds.RoleFirstName), get(htcds.RoleMiddleName), get(htcds.RoleLastName)
	if namesByPart {
		id.Names = identity.NormalizeNames(first, middle, last)
		return id
	}
	if middle != "" {
		first += " " + middle
	}
	id.First, id.Last = first, last
	return id
}

// namesByPart tells that every name role has one field, so that a name
// field's value is the whole of its part of identity.Names.
var namesByPart = func() bool {
	for _, role := range []htcds.Role{htcds.RoleFirstName, htcds.RoleMiddleName, htcds.RoleLastName} {
		if len(htcds.FieldsWithRole(role)) != 1 {
			return false
		}
	}
	return true
}()

// namePart is the part of identity.Names a name field holds.
func namePart(role htcds.Role) (identity.NamePart, bool) {
	switch role {
	case htcds.RoleFirstName:
		return identity.FirstName, true
	case htcds.RoleMiddleName:
		return identity.MiddleName, true
	case htcds.RoleLastName:
		return identity.LastName, true
	}
	return 0, false
}

// matchKeys are the record's match keys, none when the record does not
// identify anyone well enough to link, and its name normalised part by part
// (nil when it is not). An exchange normalises the identity once: the keys
// serve the internal link and the destination's, and the name's parts the
// name fields' pseudonyms.
func matchKeys(r *htcds.Record) ([]identity.MatchKey, *identity.Names) {
	id := identityOf(r)
	mks, err := identity.MatchKeys(id)
	if err != nil {
		return nil, id.Names
	}
	return mks, id.Names
}

// matchInputs are the record's match keys as pseudonym inputs; none when the
// record does not identify anyone well enough to link.
func matchInputs(r *htcds.Record) [][]byte {
	mks, _ := matchKeys(r)
	return keyInputs(mks)
}

func keyInputs(mks []identity.MatchKey) [][]byte {
	if len(mks) == 0 {
		return nil
	}
	in := make([][]byte, len(mks))
	for i, k := range mks {
		in[i] = k.Input()
	}
	return in
}

// MatchInputs returns the pseudonym inputs of an HTCDS record's match keys, as
// the gateway computes them, for audits and tests.
func MatchInputs(record json.RawMessage) ([][]byte, error) {
	var r htcds.Record
	if err := r.UnmarshalJSON(record); err != nil {
		return nil, err
	}
	return matchInputs(&r), nil
}

// internalKeys are the person's match keys in the gateway's own domain. The
// store links them to a person, whose id audit entries carry; none when the
// record names no one.
func (x *Exchanger) internalKeys(ctx context.Context, in [][]byte) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	ps, err := x.keys.Pseudonymize(ctx, config.InternalDomain, in)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out, nil
}

// fieldPlan is what transform reads from a decision for a record's fields:
// the action on each field, and the field decisions as they are audited and
// released, encoded once. A cached decision is shared by every record with
// the same fields (the decision cache's key holds their names in order), so
// its plan is made once and attached to it.
type fieldPlan struct {
	ids     []htcds.FieldID // the record's fields it was made for, in order
	actions []policy.Action // by field id
	fields  *audit.EncodedFields
	counts  []actionCount // the fields by action, for the metrics
}

// planFor returns the decision's plan for rec's fields: the attached one
// when it was made for the same fields, else a new one.
func planFor(dec *policy.Decision, rec *htcds.Record) (*fieldPlan, error) {
	if p, ok := dec.Attached().(*fieldPlan); ok && p.fits(rec) {
		return p, nil
	}
	p := &fieldPlan{ids: make([]htcds.FieldID, 0, rec.Len()), actions: make([]policy.Action, len(htcds.Fields()))}
	list := make([]audit.FieldAction, 0, rec.Len())
	for _, e := range rec.Entries() {
		f := e.Field()
		fd, ok := dec.Fields[f.Name]
		if !ok {
			return nil, policyBroken(fmt.Errorf("no action for %s", f.Name))
		}
		p.ids = append(p.ids, e.ID)
		p.actions[e.ID] = fd.Action
		list = append(list, audit.FieldAction{Field: f.Name, Action: fd.Action.String(), Rule: fd.Rule})
	}
	p.fields = audit.EncodeFields(list)
	p.counts = countActions(list)
	dec.Attach(p)
	return p, nil
}

// fits reports whether the plan was made for rec's fields.
func (p *fieldPlan) fits(rec *htcds.Record) bool {
	es := rec.Entries()
	if len(es) != len(p.ids) {
		return false
	}
	for i, e := range es {
		if e.ID != p.ids[i] {
			return false
		}
	}
	return true
}

// transform applies the decision to every field. Pseudonyms are made in the
// destination's domain in one call to the key backend.
// mks are the record's match keys, keyIn their pseudonym inputs and names
// its name normalised part by part (or nil).
func (x *Exchanger) transform(ctx context.Context, dst *config.Agency, sub *Submission, dec *policy.Decision, mks []identity.MatchKey, keyIn [][]byte, names *identity.Names) (*released, error) {
	rec := sub.Record
	plan, err := planFor(dec, rec)
	if err != nil {
		return nil, err
	}
	actions := plan.actions
	kept := func(id htcds.FieldID) bool { return actions[id] == policy.Keep }
	var (
		pending [][]byte // pseudonym inputs: pseudonymised fields, then the source record id, then match keys
		general []string // generalised values by entry, when any field is generalised
		hasGen  []bool
	)
	for i, e := range rec.Entries() {
		f := e.Field()
		switch actions[e.ID] {
		case policy.Keep, policy.Redact:
		case policy.Pseudonymise:
			in, err := pseudonymInput(e, names)
			if err != nil {
				return nil, &Error{Status: http.StatusUnprocessableEntity, Code: "cannot_pseudonymise",
					Message: "field " + f.Name + " cannot be pseudonymised: " + err.Error() + "; nothing was released", Err: errors.Join(ErrPrivacy, err)}
			}
			pending = append(pending, in)
		case policy.Generalise:
			if f.Gen == htcds.NoGeneralization {
				return nil, policyBroken(fmt.Errorf("generalise %s, which cannot be generalised", f.Name))
			}
			if general == nil {
				general, hasGen = make([]string, rec.Len()), make([]bool, rec.Len())
			}
			general[i], hasGen[i] = rec.Generalize(e.ID, kept)
		default:
			return nil, policyBroken(fmt.Errorf("unknown action %d", actions[e.ID]))
		}
	}
	nFields := len(pending)
	if sub.SourceRecordID != "" {
		pending = append(pending, []byte("r\x00"+sub.Source+"\x00"+sub.SourceRecordID))
	}
	nBeforeKeys := len(pending)
	pending = append(pending, linkableInputs(rec, actions, mks, keyIn)...)
	out := &released{fields: plan.fields, actions: plan.counts}
	var ps []keys.Pseudonym
	if len(pending) > 0 {
		if ps, err = x.keys.Pseudonymize(ctx, dst.Domain, pending); err != nil {
			return nil, unavailable("pseudonymisation_failed", "the key store could not pseudonymise; nothing was released", err)
		}
		if len(ps) != len(pending) {
			return nil, unavailable("pseudonymisation_failed", "the key store answered short; nothing was released", keys.ErrUnavailable)
		}
		if nBeforeKeys > nFields {
			out.sourceRecord = ps[nFields].String()
		}
		if len(ps) > nBeforeKeys {
			out.subject = &Subject{Keys: make([]string, 0, len(ps)-nBeforeKeys)}
			for _, p := range ps[nBeforeKeys:] {
				out.subject.Keys = append(out.subject.Keys, p.String())
			}
		}
	}
	// The released values as a JSON object in catalogue order, as
	// encoding/json writes it.
	b := make([]byte, 0, 96*rec.Len())
	b = append(b, '{')
	next := 0 // the next field pseudonym in ps
	for i, e := range rec.Entries() {
		a := actions[e.ID]
		if a == policy.Redact || (a == policy.Generalise && (hasGen == nil || !hasGen[i])) {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(e.AppendName(b), ':')
		switch a {
		case policy.Keep:
			if b, err = e.AppendJSON(b); err != nil {
				return nil, unavailable("encode_failed", "a field could not be encoded", err)
			}
		case policy.Pseudonymise:
			b = append(b, '"') // a pseudonym's characters need no escaping (keys.ValidDomain, base64url)
			b = ps[next].Append(b)
			b = append(b, '"')
			next++
		case policy.Generalise:
			b = jsonx.AppendString(b, general[i])
		}
	}
	out.record = append(b, '}')
	return out, nil
}

// keyRoles are the identity roles each kind of match key is made from.
var keyRoles = map[identity.Kind][]htcds.Role{
	identity.KindNameBirthdate: {htcds.RoleFirstName, htcds.RoleMiddleName, htcds.RoleLastName, htcds.RoleBirthdate},
	identity.KindDocument:      {htcds.RoleDocument},
	identity.KindPhone:         {htcds.RoleMobilePhone},
}

// linkableInputs are the pseudonym inputs of the match keys the destination
// may have: a key is released only when none of the fields it is made from
// was redacted. A generalised birth date still lets the destination link the
// person (the key reveals no value); a redacted document or phone does not.
func linkableInputs(rec *htcds.Record, actions []policy.Action, mks []identity.MatchKey, keyIn [][]byte) [][]byte {
	var in [][]byte
	for i, k := range mks {
		if keyAllowed(rec, actions, keyRoles[k.Kind]) {
			in = append(in, keyIn[i])
		}
	}
	return in
}

func keyAllowed(rec *htcds.Record, actions []policy.Action, roles []htcds.Role) bool {
	for _, role := range roles {
		for _, id := range htcds.FieldsWithRole(role) {
			if _, present := rec.Get(id); present && actions[id] == policy.Redact {
				return false
			}
		}
	}
	return true
}

// policyBroken is a policy answer the gateway cannot carry out: a bug in the
// policy, not a passing outage, so it is a 500 and not worth retrying.
func policyBroken(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "policy_failed",
		Message: "the release policy gave an answer that cannot be carried out; nothing was released", Err: errors.Join(ErrPrivacy, err)}
}

// pseudonymInput is the normalised form of a field's value, prefixed with the
// field's name so that equal values of different fields never share a
// pseudonym. A name field takes its part of names, already normalised, when
// names is not nil. Its errors never contain the value.
func pseudonymInput(e htcds.Entry, names *identity.Names) ([]byte, error) {
	f := e.Field()
	var (
		s   string
		err error
	)
	switch {
	case f.Role == htcds.RoleFirstName || f.Role == htcds.RoleMiddleName || f.Role == htcds.RoleLastName:
		if p, ok := namePart(f.Role); ok && names != nil {
			s, err = names.Part(p)
		} else {
			s, err = identity.NormalizeName(e.Value.Str)
		}
	case f.Role == htcds.RoleDocument:
		s, err = identity.NormalizeDocument(e.Value.Str)
	case f.Kind == htcds.Phone:
		s, err = identity.NormalizePhone(e.Value.Str)
	case f.Kind == htcds.Date:
		s, err = identity.NormalizeDate(e.Value.Str)
	case f.Kind == htcds.MultiPicklist || f.Kind == htcds.CountryList:
		l := slices.Clone(e.Value.List)
		slices.Sort(l)
		s = strings.Join(l, "\x1f")
	case f.Kind == htcds.Integer || f.Kind == htcds.Number:
		s = strconv.FormatFloat(e.Value.Num, 'f', -1, 64)
	case f.Kind == htcds.Boolean:
		s = strconv.FormatBool(e.Value.Bool)
	default: // folded straight into the input, the commonest case
		b := inputPrefix(f, len(e.Value.Str))
		n := len(b)
		if b = appendFold(b, e.Value.Str); len(b) == n {
			return nil, errEmptyInput
		}
		return b, nil
	}
	if err != nil {
		return nil, errors.New("its value could not be normalised")
	}
	if s == "" {
		return nil, errEmptyInput
	}
	return append(inputPrefix(f, len(s)), s...), nil
}

var errEmptyInput = errors.New("its value is empty after normalisation")

// inputPrefix starts a pseudonym input for field f, with room for n bytes of
// value.
func inputPrefix(f *htcds.Field, n int) []byte {
	b := make([]byte, 0, 3+len(f.Name)+n)
	return append(append(append(b, "f\x00"...), f.Name...), 0)
}

// appendFold appends foldText(s) to dst in one pass, without the
// intermediate strings. Invalid UTF-8, which a decoded record never holds,
// takes foldText itself. FuzzAppendFold holds the two equal.
func appendFold(dst []byte, s string) []byte {
	t := norm.NFKC.String(s)
	if !utf8.ValidString(t) {
		return append(dst, foldText(s)...)
	}
	start, space := len(dst), false
	for _, r := range t {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && len(dst) > start {
			dst = append(dst, ' ')
		}
		space = false
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			dst = append(dst, byte(r))
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

// foldText is the generic normalisation of a text value: NFKC, lower case,
// single spaces.
func foldText(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(s)), " "))
}

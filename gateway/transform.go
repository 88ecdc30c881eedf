package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/tumarproject/tumar/crypto/identity"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/policy"
)

// released is a record after the policy's actions, ready to leave.
type released struct {
	record  json.RawMessage
	fields  []audit.FieldAction
	subject *Subject
}

// identityOf reads a record's identity through the catalogue's roles.
func identityOf(r *htcds.Record) identity.Identity {
	get := func(role htcds.Role) string {
		var parts []string
		for _, id := range htcds.FieldsWithRole(role) {
			if v, ok := r.Get(id); ok && v.Str != "" {
				parts = append(parts, v.Str)
			}
		}
		return strings.Join(parts, " ")
	}
	first := get(htcds.RoleFirstName)
	if middle := get(htcds.RoleMiddleName); middle != "" {
		first += " " + middle
	}
	return identity.Identity{
		First: first, Last: get(htcds.RoleLastName), Birthdate: get(htcds.RoleBirthdate),
		Document: get(htcds.RoleDocument), Phone: get(htcds.RoleMobilePhone),
	}
}

// matchInputs are the record's match keys as pseudonym inputs; none when the
// record does not identify anyone well enough to link.
func matchInputs(r *htcds.Record) [][]byte {
	mks, err := identity.MatchKeys(identityOf(r))
	if err != nil {
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

// internalSubject is the person's pseudonym in the gateway's own domain, the
// one audit entries carry; "" when the record names no one.
func (x *Exchanger) internalSubject(ctx context.Context, r *htcds.Record) (string, error) {
	in := matchInputs(r)
	if len(in) == 0 {
		return "", nil
	}
	ps, err := x.keys.Pseudonymize(ctx, config.InternalDomain, in[:1])
	if err != nil {
		return "", err
	}
	return ps[0].String(), nil
}

// transform applies the decision to every field. Pseudonyms are made in the
// destination's domain in one call to the key backend.
func (x *Exchanger) transform(ctx context.Context, dst *config.Agency, sub *Submission, dec *policy.Decision) (*released, error) {
	rec := sub.Record
	var (
		pending  [][]byte // pseudonym inputs: pseudonymised fields first, then match keys
		slots    []int    // index in values of each pending field
		values   = make([][]byte, rec.Len())
		fields   = make([]audit.FieldAction, 0, rec.Len())
		identify bool // an identity field is kept or pseudonymised
	)
	for i, e := range rec.Entries() {
		f := e.Field()
		fd, ok := dec.Fields[f.Name]
		if !ok {
			return nil, unavailable("policy_failed", "the policy gave no action for a field; nothing was released", fmt.Errorf("no action for %s", f.Name))
		}
		fields = append(fields, audit.FieldAction{Field: f.Name, Action: fd.Action.String(), Rule: fd.Rule})
		if f.Role != htcds.NoRole && (fd.Action == policy.Keep || fd.Action == policy.Pseudonymise) {
			identify = true
		}
		switch fd.Action {
		case policy.Keep:
			v, err := e.JSON()
			if err != nil {
				return nil, unavailable("encode_failed", "a field could not be encoded", err)
			}
			values[i] = v
		case policy.Pseudonymise:
			norm, err := pseudonymInput(e)
			if err != nil {
				return nil, &Error{Status: http.StatusUnprocessableEntity, Code: "cannot_pseudonymise",
					Message: "field " + f.Name + " cannot be pseudonymised: " + err.Error() + "; nothing was released", Err: errors.Join(ErrPrivacy, err)}
			}
			pending, slots = append(pending, norm), append(slots, i)
		case policy.Generalise:
			if f.Gen == htcds.NoGeneralization {
				return nil, unavailable("policy_failed", "the policy asked to generalise a field that cannot be; nothing was released", fmt.Errorf("generalise %s", f.Name))
			}
			if s, ok := rec.Generalize(e.ID); ok {
				values[i], _ = json.Marshal(s)
			}
		case policy.Redact:
		default:
			return nil, unavailable("policy_failed", "the policy gave an unknown action; nothing was released", fmt.Errorf("action %d", fd.Action))
		}
	}
	nFields := len(pending)
	if identify {
		pending = append(pending, matchInputs(rec)...)
	}
	out := &released{fields: fields}
	if len(pending) > 0 {
		ps, err := x.keys.Pseudonymize(ctx, dst.Domain, pending)
		if err != nil {
			return nil, unavailable("pseudonymisation_failed", "the key store could not pseudonymise; nothing was released", err)
		}
		for j, slot := range slots {
			values[slot], _ = json.Marshal(ps[j].String())
		}
		if len(ps) > nFields {
			out.subject = &Subject{}
			for _, p := range ps[nFields:] {
				out.subject.Keys = append(out.subject.Keys, p.String())
			}
		}
	}
	out.record = encodeObject(rec, values)
	return out, nil
}

// encodeObject writes the released values as a JSON object in catalogue order.
func encodeObject(rec *htcds.Record, values [][]byte) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for i, e := range rec.Entries() {
		if values[i] == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(e.Field().Name))
		b.WriteByte(':')
		b.Write(values[i])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// pseudonymInput is the normalised form of a field's value, prefixed with the
// field's name so that equal values of different fields never share a
// pseudonym. Its errors never contain the value.
func pseudonymInput(e htcds.Entry) ([]byte, error) {
	f := e.Field()
	var (
		s   string
		err error
	)
	switch {
	case f.Role == htcds.RoleFirstName || f.Role == htcds.RoleMiddleName || f.Role == htcds.RoleLastName:
		s, err = identity.NormalizeName(e.Value.Str)
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
	default:
		s = foldText(e.Value.Str)
	}
	if err != nil {
		return nil, errors.New("its value could not be normalised")
	}
	if s == "" {
		return nil, errors.New("its value is empty after normalisation")
	}
	return []byte("f\x00" + f.Name + "\x00" + s), nil
}

// foldText is the generic normalisation of a text value: NFKC, lower case,
// single spaces.
func foldText(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(s)), " "))
}

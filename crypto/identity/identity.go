package identity

import (
	"errors"
	"strings"
)

// Identity is what a source tells about a person; any field may be empty.
// It is the input of MatchKeys and is never stored by this package.
type Identity struct {
	First, Last, Birthdate, Document, Phone string
	// Names, when set, is the name normalised part by part, and takes
	// the place of First and Last, which are then not read.
	Names *Names
}

// Kind names a match key, so that a pseudonym of a document number can
// never collide with a pseudonym of a phone number.
type Kind string

// The kinds of match key, in the order MatchKeys returns them.
const (
	KindNameBirthdate Kind = "nb"  // name + birth date
	KindDocument      Kind = "doc" // identity document number
	KindPhone         Kind = "tel" // mobile phone, E.164
)

// MatchKey is one normalised identity part, ready to be pseudonymised
// (HMAC'd) by another package. Two records describing the same person
// should share at least one MatchKey.
type MatchKey struct {
	Kind  Kind
	Value string // canonical form; never empty
}

// Sentinel errors. Every error this package returns wraps one of them, and
// no error text ever contains the input value or a part of it: the inputs
// are the names of victims.
var (
	// ErrNotEnough means nothing in the identity is enough to link on.
	ErrNotEnough = errors.New("identity: not enough to link on")
	// ErrInvalid means a value cannot be normalised (impossible date,
	// punctuation-only name, too long, invalid UTF-8 ...).
	ErrInvalid = errors.New("identity: invalid value")
)

// maxPartBytes bounds every input value, so that a hostile source cannot
// make normalisation expensive; no real name part or number comes close.
const maxPartBytes = 256

// minNameLetters is the shortest name skeleton a name+birth-date key may be
// built on: a lone initial with a birth date would link strangers.
const minNameLetters = 2

// nbSeparator joins the name skeleton and the birth date in the nb key. It
// never occurs in a name skeleton.
const nbSeparator = '|'

// errMissing reports an empty part; it is wrapped with the field name.
var errMissing = errors.New("missing")

// Errors for the parts MatchKeys needs, named after the field only.
var (
	errNameMissing      = fieldError("name", errMissing)
	errBirthdateMissing = fieldError("birthdate", errMissing)
	errDocumentMissing  = fieldError("document", errMissing)
	errPhoneMissing     = fieldError("phone", errMissing)
	errNameTooShort     = invalid("name", "too short to link on")
)

// fieldError names the field in front of a cause without ever including the
// value.
func fieldError(field string, cause error) error {
	return &partError{field: field, msg: cause.Error(), cause: cause}
}

// invalid builds an ErrInvalid for a field and a problem; the message is a
// constant so it cannot leak the input.
func invalid(field, problem string) error {
	return &partError{field: field, msg: problem + ": " + ErrInvalid.Error(), cause: ErrInvalid}
}

// partError is an error about one identity part. It carries only constant
// text chosen by this package.
type partError struct {
	field, msg string
	cause      error
}

func (e *partError) Error() string { return "identity: " + e.field + ": " + e.msg }
func (e *partError) Unwrap() error { return e.cause }

// notEnoughError is returned by MatchKeys when no key can be made; it lists
// why each key kind failed, on one line, and matches ErrNotEnough as well as
// the causes (for example ErrInvalid).
type notEnoughError struct {
	causes []error
}

func (e *notEnoughError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNotEnough.Error())
	for i, c := range e.causes {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(strings.TrimPrefix(c.Error(), "identity: "))
	}
	return b.String()
}

func (e *notEnoughError) Unwrap() []error {
	return append([]error{ErrNotEnough}, e.causes...)
}

// MatchKeys returns every key the identity supports, in the order nb, doc,
// tel, so that another package can pseudonymise them and link records that
// share one. The name+birth-date key needs at least one name part and a valid
// birth date. Parts that are missing or invalid are skipped; when no key at
// all can be made the error wraps ErrNotEnough and says, per part, what was
// missing or invalid (and wraps ErrInvalid when something was invalid).
func MatchKeys(id Identity) ([]MatchKey, error) {
	var (
		keys   []MatchKey
		causes [4]error
		n      int
	)
	keys = make([]MatchKey, 0, 3)
	if v, err := nameBirthdateKey(id, id.Birthdate); err != nil {
		causes[n] = err
		n++
	} else {
		keys = append(keys, MatchKey{Kind: KindNameBirthdate, Value: v})
	}
	if v, err := optional(id.Document, errDocumentMissing, NormalizeDocument); err != nil {
		causes[n] = err
		n++
	} else {
		keys = append(keys, MatchKey{Kind: KindDocument, Value: v})
	}
	if v, err := optional(id.Phone, errPhoneMissing, NormalizePhone); err != nil {
		causes[n] = err
		n++
	} else {
		keys = append(keys, MatchKey{Kind: KindPhone, Value: v})
	}
	if len(keys) == 0 {
		return nil, &notEnoughError{causes: append([]error(nil), causes[:n]...)}
	}
	return keys, nil
}

// optional normalises one part, reporting missing when it is blank.
func optional(s string, missing error, normalize func(string) (string, error)) (string, error) {
	if isBlank(s) {
		return "", missing
	}
	return normalize(s)
}

// nameBirthdateKey builds the nb key value "<name skeleton>|YYYY-MM-DD".
// The name skeleton covers both name parts with their tokens sorted, so that
// swapped first and last names give the same key.
func nameBirthdateKey(id Identity, birthdate string) (string, error) {
	first, last := id.First, id.Last
	if id.Names != nil {
		first, last = id.Names.first(), id.Names.last()
	}
	if isBlank(first) && isBlank(last) {
		return "", errNameMissing
	}
	if isBlank(birthdate) {
		return "", errBirthdateMissing
	}
	var date [10]byte
	if err := parseDate(birthdate, &date); err != nil {
		return "", err
	}
	var (
		buf [512]byte
		b   []byte
		err error
	)
	if id.Names != nil {
		b, err = id.Names.appendWhole(buf[:0])
	} else {
		b, err = appendName(buf[:0], first, last)
	}
	if err != nil {
		return "", err
	}
	if letterCount(b) < minNameLetters {
		return "", errNameTooShort
	}
	b = append(b, nbSeparator)
	b = append(b, date[:]...)
	return string(b), nil
}

// letterCount counts the non-space bytes of a skeleton.
func letterCount(b []byte) int {
	n := 0
	for _, c := range b {
		if c != ' ' {
			n++
		}
	}
	return n
}

// Input is the key's pseudonym input: its kind, a NUL, its value. The kind
// keeps a document number from ever sharing a pseudonym with a phone number.
func (k MatchKey) Input() []byte {
	b := make([]byte, 0, len(k.Kind)+1+len(k.Value))
	b = append(b, k.Kind...)
	b = append(b, 0)
	return append(b, k.Value...)
}

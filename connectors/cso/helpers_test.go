package cso

import "github.com/tumarproject/tumar/gateway/htcds"

func fieldID(name string) htcds.FieldID {
	f, _ := htcds.Lookup(name)
	return f.ID
}

package batchsig

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// The tree's root and every audit path are the ones the transparency-dev
// library builds for the same leaves, for every batch size up to 300: a
// compact range gives the root and every perfect subtree's hash, and
// proof.Inclusion says which of them make up each path.
func TestTreeIsTheLibrarysTree(t *testing.T) {
	rf := &compact.RangeFactory{Hash: hasher.HashChildren}
	for n := 1; n <= 300; n++ {
		leaves := make([][]byte, n)
		nodes := map[compact.NodeID][]byte{}
		r := rf.NewEmptyRange(0)
		for i := range leaves {
			leaves[i] = hasher.HashLeaf(fmt.Appendf(nil, "record %d of %d", i, n))
			if err := r.Append(leaves[i], func(id compact.NodeID, h []byte) { nodes[id] = h }); err != nil {
				t.Fatal(err)
			}
		}
		root, err := r.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		levels := treeLevels(leaves)
		if got := levels[len(levels)-1]; len(got) != 1 || !bytes.Equal(got[0], root) {
			t.Fatalf("size %d: the root is not the library's", n)
		}
		for i := range leaves {
			want, err := libraryPath(nodes, uint64(i), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			got := appendPath(nil, levels, i)
			if len(got) != len(want) {
				t.Fatalf("size %d, leaf %d: a path of %d hashes, want %d", n, i, len(got), len(want))
			}
			for j := range want {
				if !bytes.Equal(got[j], want[j]) {
					t.Fatalf("size %d, leaf %d: hash %d of the path differs", n, i, j)
				}
			}
		}
	}
}

func libraryPath(nodes map[compact.NodeID][]byte, index, size uint64) ([][]byte, error) {
	p, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(p.IDs))
	for i, id := range p.IDs {
		h, ok := nodes[id]
		if !ok || len(h) != sha256.Size {
			return nil, fmt.Errorf("no hash for node %+v", id)
		}
		hashes[i] = h
	}
	return p.Rehash(hashes, hasher.HashChildren)
}

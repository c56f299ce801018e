// Command tileoracle checks a folder written by `custody log tiles` with code the project
// did not write: Go's golang.org/x/mod/sumdb/note opens the checkpoint, and
// golang.org/x/mod/sumdb/tlog's TileHashReader reads the tree from the tiles (its tile
// paths tile/8/<L>/<N> adapted to C2SP's tile/<L>/<N>), authenticating each tile against
// the signed root.
//
//	tileoracle check DIR VKEY [OLD_DIR]
//	    the tree hash from the tiles is the checkpoint's root; every entry of every entry
//	    bundle has an inclusion proof (ProveRecord/CheckRecord) in the checkpoint's tree;
//	    with OLD_DIR (an earlier export), the new tree extends its checkpoint's
//	    (ProveTree/CheckTree). Prints "ok ..." and exits 0, or prints why and exits 1.
//	tileoracle paths SIZE
//	    the C2SP paths of every tile of a tree of SIZE leaves, Go's Tile.Path() with its
//	    height taken out, one per line.
//
// Built at test time from Debian's golang-go and golang-golang-x-mod-dev, offline
// (GO111MODULE=off GOPATH=/usr/share/gocode).
package main

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

// c2spPath is Go's tile path without its height element: tile/8/0/x001/067 -> tile/0/x001/067.
func c2spPath(t tlog.Tile) string {
	return "tile/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
}

type folder struct{ dir string }

func (f folder) Height() int { return height }

func (f folder) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := os.ReadFile(filepath.Join(f.dir, c2spPath(t)))
		if errors.Is(err, os.ErrNotExist) && t.W < 1<<height {
			// A partial tile may be gone once its full tile is published: read the full one.
			full := t
			full.W = 1 << height
			data, err = os.ReadFile(filepath.Join(f.dir, c2spPath(full)))
			if err == nil {
				data = data[:t.W*tlog.HashSize]
			}
		}
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (f folder) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func readCheckpoint(dir string, verifier note.Verifier) (checkpoint, error) {
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		return checkpoint{}, err
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, fmt.Errorf("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return checkpoint{}, fmt.Errorf("malformed checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("malformed checkpoint size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("malformed checkpoint root %q", lines[2])
	}
	var hash tlog.Hash
	copy(hash[:], root)
	return checkpoint{lines[0], tlog.Tree{N: size, Hash: hash}}, nil
}

// entries reads the entry bundles of a tree of size leaves: uint16 big-endian length-prefixed.
func entries(dir string, size int64) ([][]byte, error) {
	var all [][]byte
	for n := int64(0); n*(1<<height) < size; n++ {
		w := size - n*(1<<height)
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: 0, N: n, W: int(w)}
		path := "tile/entries/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/0/", height))
		data, err := os.ReadFile(filepath.Join(dir, path))
		if errors.Is(err, os.ErrNotExist) && w < 1<<height {
			t.W = 1 << height
			path = "tile/entries/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/0/", height))
			data, err = os.ReadFile(filepath.Join(dir, path))
		}
		if err != nil {
			return nil, err
		}
		for i := int64(0); i < w; i++ {
			if len(data) < 2 {
				return nil, fmt.Errorf("%s ends inside entry %d", path, i)
			}
			l := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+l {
				return nil, fmt.Errorf("%s ends inside entry %d", path, i)
			}
			all = append(all, data[2:2+l])
			data = data[2+l:]
		}
		if t.W == int(w) && len(data) != 0 {
			return nil, fmt.Errorf("%s holds bytes after its %d entries", path, w)
		}
	}
	return all, nil
}

func check(dir, vkey, oldDir string) error {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	cp, err := readCheckpoint(dir, verifier)
	if err != nil {
		return err
	}
	reader := tlog.TileHashReader(cp.tree, folder{dir})
	th, err := tlog.TreeHash(cp.tree.N, reader)
	if err != nil {
		return fmt.Errorf("TreeHash: %v", err)
	}
	if th != cp.tree.Hash {
		return fmt.Errorf("the tiles give root %v, the checkpoint %v", th, cp.tree.Hash)
	}
	records, err := entries(dir, cp.tree.N)
	if err != nil {
		return err
	}
	for i, record := range records {
		proof, err := tlog.ProveRecord(cp.tree.N, int64(i), reader)
		if err != nil {
			return fmt.Errorf("ProveRecord(%d): %v", i, err)
		}
		if err := tlog.CheckRecord(proof, cp.tree.N, cp.tree.Hash, int64(i), tlog.RecordHash(record)); err != nil {
			return fmt.Errorf("CheckRecord(%d): %v", i, err)
		}
	}
	done := fmt.Sprintf("ok %s: checkpoint of %d, %d entries proven", cp.origin, cp.tree.N, len(records))
	if oldDir != "" {
		old, err := readCheckpoint(oldDir, verifier)
		if err != nil {
			return err
		}
		proof, err := tlog.ProveTree(cp.tree.N, old.tree.N, reader)
		if err != nil {
			return fmt.Errorf("ProveTree(%d, %d): %v", cp.tree.N, old.tree.N, err)
		}
		if err := tlog.CheckTree(proof, cp.tree.N, cp.tree.Hash, old.tree.N, old.tree.Hash); err != nil {
			return fmt.Errorf("CheckTree(%d, %d): %v", cp.tree.N, old.tree.N, err)
		}
		done += fmt.Sprintf(", consistent with the checkpoint of %d", old.tree.N)
	}
	fmt.Println(done)
	return nil
}

func paths(size int64) {
	for level := 0; size>>(height*level) > 0; level++ {
		count := size >> (height * level)
		for n := int64(0); n < count>>height; n++ {
			fmt.Println(c2spPath(tlog.Tile{H: height, L: level, N: n, W: 1 << height}))
		}
		if w := count % (1 << height); w > 0 {
			fmt.Println(c2spPath(tlog.Tile{H: height, L: level, N: count >> height, W: int(w)}))
		}
	}
}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) >= 3 && len(args) <= 4 && args[0] == "check":
		old := ""
		if len(args) == 4 {
			old = args[3]
		}
		if err := check(args[1], args[2], old); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	case len(args) == 2 && args[0] == "paths":
		size, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		paths(size)
	default:
		fmt.Println("usage: tileoracle check DIR VKEY [OLD_DIR] | tileoracle paths SIZE")
		os.Exit(2)
	}
}

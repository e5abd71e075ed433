package faq

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
)

// fileState is what the KB knows of one file.
//
// Changes are found as config.Watcher finds them: by polling, comparing
// the SHA-256 of each file's content with the last one seen. Polling needs
// no extra dependency and sees through editors that rename over a file,
// Kubernetes ConfigMap symlink swaps and network filesystems; a directory
// of FAQ files costs a few small reads per interval.
type fileState struct {
	sum     [32]byte // of the content last parsed, valid or not
	entries []entry  // of the last content that parsed; kept while the file is bad
	err     error    // the problem of the current content, nil when it parsed
	readErr string   // last read error logged, so that it is logged once
}

// load reads the files that changed since the last load, and builds and
// swaps in a new index when entries were added, changed or removed. Files
// whose new content is malformed keep their previous entries. It returns
// the problems of the files, joined, or the directory's error.
func (k *KB) load(trigger string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed.Load() {
		return errors.New("faq: closed")
	}
	paths, err := k.list()
	if err != nil {
		if err.Error() != k.listErr {
			k.listErr = err.Error()
			k.logger.Error("cannot read the FAQ directory; keeping the index", "dir", k.dir, "err", err)
		}
		return err
	}
	k.listErr = ""

	var added, changed, removed, rejected []string
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		seen[p] = true
		st, known := k.files[p]
		if !known {
			st = &fileState{}
			k.files[p] = st
		}
		b, err := os.ReadFile(p)
		if err != nil {
			// A file can vanish between the listing and the read, or be
			// unreadable: keep its entries, log once, look again next time.
			st.err, st.sum = &FileError{File: p, Err: err}, [32]byte{}
			if err.Error() != st.readErr {
				st.readErr = err.Error()
				k.logger.Error("cannot read FAQ file; keeping its entries", "file", p, "trigger", trigger, "kept", len(st.entries), "err", err)
			}
			continue
		}
		st.readErr = ""
		sum := sha256.Sum256(b)
		if known && sum == st.sum {
			continue
		}
		st.sum = sum
		entries, err := parseFile(p, b)
		if err != nil {
			st.err = err
			rejected = append(rejected, p)
			k.logger.Error("FAQ file rejected; keeping its previous entries", "file", p, "trigger", trigger, "kept", len(st.entries), "err", err.Error())
			continue
		}
		st.err = nil
		switch {
		case !known || (st.entries == nil && entries != nil):
			added = append(added, p)
		case !reflect.DeepEqual(st.entries, entries):
			changed = append(changed, p)
		default:
			k.logger.Debug("FAQ file changed but not its entries", "file", p)
		}
		st.entries = entries
	}
	for p, st := range k.files {
		if !seen[p] {
			delete(k.files, p)
			if st.entries != nil {
				removed = append(removed, p)
			}
		}
	}

	errs := k.fileErrors(paths)
	k.errs.Store(&errs)
	if k.cur.Load() != nil && len(added)+len(changed)+len(removed) == 0 {
		return errors.Join(errs...)
	}
	var all []entry
	for _, p := range paths {
		if st := k.files[p]; st != nil {
			all = append(all, st.entries...)
		}
	}
	s, err := build(k.mapping, all)
	if err != nil {
		k.logger.Error("FAQ index build failed; keeping the index", "dir", k.dir, "err", err)
		return errors.Join(append(errs, err)...)
	}
	msg := "FAQ loaded"
	if old := k.cur.Swap(s); old != nil {
		old.release() // closed once the searches under way are done
		msg = "FAQ reloaded"
	}
	sort.Strings(removed)
	k.logger.Info(msg, "dir", k.dir, "trigger", trigger, "entries", len(all),
		"added", added, "changed", changed, "removed", removed, "rejected", rejected)
	return errors.Join(errs...)
}

// list is the FAQ files of the directory, sorted.
func (k *KB) list() ([]string, error) {
	des, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, de := range des {
		if !isFAQFile(de.Name()) {
			continue
		}
		p := filepath.Join(k.dir, de.Name())
		if de.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(p); err == nil && !fi.Mode().IsRegular() {
				continue // a link to a directory
			}
		} else if !de.Type().IsRegular() {
			continue
		}
		paths = append(paths, p)
	}
	return paths, nil // os.ReadDir sorts by name
}

// fileErrors are the problems of the files, in path order.
func (k *KB) fileErrors(paths []string) []error {
	var errs []error
	for _, p := range paths {
		if st := k.files[p]; st != nil && st.err != nil {
			errs = append(errs, st.err)
		}
	}
	return errs
}

// trivydb writes a small, real Trivy vulnerability DB (schema version 2) for offline tests.
//
// Output: <out>/trivy.db (bbolt) and <out>/metadata.json, the two files Trivy reads from
// <cache-dir>/db/ and from the OCI artifact behind --db-repository.
//
// Inputs:
//   - -fixtures DIR: Trivy's own integration DB fixtures (YAML; aquasecurity/trivy
//     integration/testdata/fixtures/db/*.yaml): a list of {bucket, pairs}, each pair either a
//     nested {bucket, pairs} or a {key, value}; values are stored as JSON.
//   - -ghsa DIR: GitHub Security Advisory files (OSV JSON, github/advisory-database). Each is
//     converted the way trivy-db's ghsa source does: the vulnerability id is the CVE alias when
//     there is one (else the GHSA id, which becomes a VendorID either way); per affected package
//     a value {VendorIDs, VulnerableVersions, PatchedVersions} in the ecosystem bucket
//     "pip::GitHub Security Advisory Pip" / "npm::GitHub Security Advisory Npm" (pip names
//     lower-cased with "_" → "-"); the advisory itself in the "vulnerability" bucket with
//     VendorSeverity {"ghsa": 1..4} from database_specific.severity; and the ecosystem bucket's
//     "data-source" entry {ID: ghsa, Name, URL}, so Trivy takes the GHSA severity.
//
// metadata.json: {"Version": 2, "NextUpdate", "UpdatedAt", "DownloadedAt"}; -updated-at sets
// UpdatedAt (RFC 3339, default now), NextUpdate is UpdatedAt + -next-update (default one year:
// a past NextUpdate makes Trivy try the internet).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"gopkg.in/yaml.v3"
)

type node struct {
	Bucket string      `yaml:"bucket"`
	Key    string      `yaml:"key"`
	Value  interface{} `yaml:"value"`
	Pairs  []node      `yaml:"pairs"`
}

type osvEvent struct {
	Introduced   string `json:"introduced"`
	Fixed        string `json:"fixed"`
	LastAffected string `json:"last_affected"`
}

type osvAdvisory struct {
	ID        string   `json:"id"`
	Modified  string   `json:"modified"`
	Published string   `json:"published"`
	Aliases   []string `json:"aliases"`
	Summary   string   `json:"summary"`
	Details   string   `json:"details"`
	Severity  []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string     `json:"type"`
			Events []osvEvent `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
	References []struct {
		URL string `json:"url"`
	} `json:"references"`
	DatabaseSpecific struct {
		CweIDs   []string `json:"cwe_ids"`
		Severity string   `json:"severity"`
	} `json:"database_specific"`
}

var ecosystems = map[string][2]string{
	// OSV ecosystem → (Trivy bucket, data-source URL query)
	"PyPI": {"pip::GitHub Security Advisory Pip", "pip"},
	"npm":  {"npm::GitHub Security Advisory Npm", "npm"},
}

var ghsaSeverity = map[string]int{"LOW": 1, "MODERATE": 2, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
var severityName = map[int]string{1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}

// store is the whole DB in memory: nested buckets and JSON values, written at the end.
type store struct {
	buckets map[string]*store
	values  map[string][]byte
}

func newStore() *store { return &store{map[string]*store{}, map[string][]byte{}} }

func (s *store) bucket(path ...string) *store {
	cur := s
	for _, name := range path {
		next, ok := cur.buckets[name]
		if !ok {
			next = newStore()
			cur.buckets[name] = next
		}
		cur = next
	}
	return cur
}

func (s *store) loadNode(n node, where string) error {
	if n.Bucket == "" {
		return fmt.Errorf("%s: a top-level entry needs a bucket", where)
	}
	b := s.bucket(n.Bucket)
	for _, p := range n.Pairs {
		if p.Bucket != "" {
			if err := b.loadNode(p, where); err != nil {
				return err
			}
			continue
		}
		if p.Key == "" {
			return fmt.Errorf("%s: bucket %q has a pair without key or bucket", where, n.Bucket)
		}
		data, err := json.Marshal(jsonable(p.Value))
		if err != nil {
			return fmt.Errorf("%s: %s/%s: %v", where, n.Bucket, p.Key, err)
		}
		b.values[p.Key] = data
	}
	return nil
}

// jsonable turns YAML's map[interface{}]interface{} (non-string keys) into JSON-encodable maps.
func jsonable(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case map[interface{}]interface{}:
		out := map[string]interface{}{}
		for k, x := range t {
			out[fmt.Sprint(k)] = jsonable(x)
		}
		return out
	case []interface{}:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	case time.Time:
		return t.UTC().Format(time.RFC3339)
	}
	return v
}

func loadFixtures(s *store, dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var nodes []node
		if err := yaml.Unmarshal(raw, &nodes); err != nil {
			return 0, fmt.Errorf("%s: %v", f, err)
		}
		for _, n := range nodes {
			if err := s.loadNode(n, f); err != nil {
				return 0, err
			}
		}
	}
	return len(files), nil
}

func vulnID(a osvAdvisory) string {
	for _, alias := range a.Aliases {
		if strings.HasPrefix(alias, "CVE-") {
			return alias
		}
	}
	return a.ID
}

func packageName(ecosystem, name string) string {
	if ecosystem == "PyPI" {
		return strings.ReplaceAll(strings.ToLower(name), "_", "-")
	}
	return name
}

// ranges converts OSV ECOSYSTEM events to Trivy's constraint strings and the patched versions.
func ranges(events []osvEvent) (vulnerable string, patched []string) {
	var parts []string
	for _, e := range events {
		switch {
		case e.Introduced != "" && e.Introduced != "0":
			parts = append(parts, ">="+e.Introduced)
		case e.Fixed != "":
			parts = append(parts, "<"+e.Fixed)
			patched = append(patched, e.Fixed)
		case e.LastAffected != "":
			parts = append(parts, "<="+e.LastAffected)
		}
	}
	if len(parts) == 0 {
		parts = []string{">=0"}
	}
	return strings.Join(parts, ", "), patched
}

type advisoryValue struct {
	VendorIDs          []string `json:"VendorIDs"`
	VulnerableVersions []string `json:"VulnerableVersions"`
	PatchedVersions    []string `json:"PatchedVersions"`
}

func loadGHSA(s *store, dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var a osvAdvisory
		if err := json.Unmarshal(raw, &a); err != nil {
			return 0, fmt.Errorf("%s: %v", f, err)
		}
		if a.ID == "" {
			return 0, fmt.Errorf("%s: no id", f)
		}
		id := vulnID(a)
		values := map[[2]string]*advisoryValue{}
		var order [][2]string
		for _, aff := range a.Affected {
			eco, ok := ecosystems[aff.Package.Ecosystem]
			if !ok {
				continue
			}
			key := [2]string{eco[0], packageName(aff.Package.Ecosystem, aff.Package.Name)}
			v, seen := values[key]
			if !seen {
				v = &advisoryValue{VendorIDs: []string{a.ID}, VulnerableVersions: []string{}, PatchedVersions: []string{}}
				values[key] = v
				order = append(order, key)
			}
			for _, r := range aff.Ranges {
				if r.Type != "ECOSYSTEM" && r.Type != "SEMVER" {
					continue
				}
				vuln, patched := ranges(r.Events)
				v.VulnerableVersions = append(v.VulnerableVersions, vuln)
				v.PatchedVersions = append(v.PatchedVersions, patched...)
			}
			s.bucket("data-source").values[eco[0]] = mustJSON(map[string]string{
				"ID":   "ghsa",
				"Name": strings.SplitN(eco[0], "::", 2)[1],
				"URL":  "https://github.com/advisories?query=type%3Areviewed+ecosystem%3A" + eco[1],
			})
		}
		for _, key := range order {
			s.bucket(key[0], key[1]).values[id] = mustJSON(values[key])
		}
		mergeVulnerability(s.bucket("vulnerability"), id, a)
	}
	return len(files), nil
}

func mergeVulnerability(b *store, id string, a osvAdvisory) {
	rec := map[string]interface{}{}
	if old, ok := b.values[id]; ok {
		_ = json.Unmarshal(old, &rec)
	}
	setDefault := func(k string, v interface{}) {
		if _, ok := rec[k]; !ok {
			rec[k] = v
		}
	}
	setDefault("Title", a.Summary)
	setDefault("Description", a.Details)
	refs := []string{}
	for _, r := range a.References {
		refs = append(refs, r.URL)
	}
	setDefault("References", refs)
	if len(a.DatabaseSpecific.CweIDs) > 0 {
		setDefault("CweIDs", a.DatabaseSpecific.CweIDs)
	}
	setDefault("PublishedDate", a.Published)
	setDefault("LastModifiedDate", a.Modified)
	vs, _ := rec["VendorSeverity"].(map[string]interface{})
	if vs == nil {
		vs = map[string]interface{}{}
	}
	if sev, ok := ghsaSeverity[strings.ToUpper(a.DatabaseSpecific.Severity)]; ok {
		vs["ghsa"] = sev
		setDefault("Severity", severityName[sev])
	}
	rec["VendorSeverity"] = vs
	for _, sv := range a.Severity {
		if sv.Type == "CVSS_V3" {
			cvss, _ := rec["CVSS"].(map[string]interface{})
			if cvss == nil {
				cvss = map[string]interface{}{}
			}
			cvss["ghsa"] = map[string]string{"V3Vector": sv.Score}
			rec["CVSS"] = cvss
		}
	}
	b.values[id] = mustJSON(rec)
}

func mustJSON(v interface{}) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

func write(tx *bolt.Tx, parent *bolt.Bucket, name string, s *store) error {
	var b *bolt.Bucket
	var err error
	if parent == nil {
		b, err = tx.CreateBucketIfNotExists([]byte(name))
	} else {
		b, err = parent.CreateBucketIfNotExists([]byte(name))
	}
	if err != nil {
		return fmt.Errorf("bucket %q: %v", name, err)
	}
	for k, v := range s.values {
		if err := b.Put([]byte(k), v); err != nil {
			return err
		}
	}
	for child, cs := range s.buckets {
		if err := write(tx, b, child, cs); err != nil {
			return err
		}
	}
	return nil
}

func run() error {
	out := flag.String("out", "", "output directory (trivy.db and metadata.json are written here)")
	fixtures := flag.String("fixtures", "", "directory of Trivy DB fixture *.yaml files")
	ghsa := flag.String("ghsa", "", "directory of GitHub Security Advisory (OSV) *.json files")
	updated := flag.String("updated-at", "", "UpdatedAt, RFC 3339 (default: now)")
	next := flag.Duration("next-update", 365*24*time.Hour, "NextUpdate = UpdatedAt + this")
	flag.Parse()
	if *out == "" || (*fixtures == "" && *ghsa == "") {
		return fmt.Errorf("usage: trivydb -out DIR [-fixtures DIR] [-ghsa DIR] [-updated-at RFC3339] [-next-update DURATION]")
	}
	updatedAt := time.Now().UTC()
	if *updated != "" {
		t, err := time.Parse(time.RFC3339, *updated)
		if err != nil {
			return fmt.Errorf("-updated-at: %v", err)
		}
		updatedAt = t.UTC()
	}
	nextUpdate := updatedAt.Add(*next)
	if !nextUpdate.After(time.Now()) {
		return fmt.Errorf("NextUpdate %s is not in the future (Trivy would try the internet)", nextUpdate.Format(time.RFC3339))
	}
	s := newStore()
	nf, ng := 0, 0
	var err error
	if *fixtures != "" {
		if nf, err = loadFixtures(s, *fixtures); err != nil {
			return err
		}
	}
	if *ghsa != "" {
		if ng, err = loadGHSA(s, *ghsa); err != nil {
			return err
		}
	}
	if _, ok := s.buckets["vulnerability"]; !ok {
		return fmt.Errorf("no vulnerability bucket: Trivy cannot read a DB without one")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(*out, ".trivy.db.partial")
	_ = os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o644, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for name, b := range s.buckets {
			if err := write(tx, nil, name, b); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(*out, "trivy.db")); err != nil {
		return err
	}
	meta := map[string]interface{}{
		"Version":      2,
		"NextUpdate":   nextUpdate.Format(time.RFC3339),
		"UpdatedAt":    updatedAt.Format(time.RFC3339),
		"DownloadedAt": time.Now().UTC().Format(time.RFC3339),
	}
	metaTmp := filepath.Join(*out, ".metadata.json.partial")
	if err := os.WriteFile(metaTmp, append(mustJSON(meta), '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(metaTmp, filepath.Join(*out, "metadata.json")); err != nil {
		return err
	}
	fmt.Printf("trivydb: %s: %d fixture file(s), %d advisory file(s), UpdatedAt %s\n",
		*out, nf, ng, updatedAt.Format(time.RFC3339))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trivydb:", err)
		os.Exit(2)
	}
}

package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifestsDir is deploy/kubernetes, or $TESSERA_MANIFESTS (the vitest wrapper points it at broken copies to prove
// that this test fails on them).
func manifestsDir() string {
	if d := os.Getenv("TESSERA_MANIFESTS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "deploy", "kubernetes")
}

// strictDecoder decodes YAML or JSON into the registered API types, refusing unknown and duplicate fields.
func strictDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

type decoded struct {
	where string
	obj   runtime.Object
}

// decodeAll strictly decodes every document of every *.yaml file in dir.
func decodeAll(dir string) ([]decoded, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.yaml manifest in %q", dir)
	}
	sort.Strings(files)
	dec := strictDecoder()
	var out []decoded
	var errs []error
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for doc := 1; ; doc++ {
			chunk, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
			}
			if isBlank(chunk) {
				continue
			}
			where := fmt.Sprintf("%s document %d", filepath.Base(file), doc)
			obj, _, err := dec.Decode(chunk, nil, nil)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			out = append(out, decoded{where, obj})
		}
	}
	return out, errors.Join(errs...)
}

// isBlank: only comments and whitespace (a leading comment block before the first `---`).
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && t != "---" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs, err := decodeAll(manifestsDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("no object decoded")
	}
	for _, problem := range crossCheck(objs) {
		t.Error(problem)
	}
}

// The decoder really is strict: these must be refused (a guard against a decoder that silently drops fields).
func TestStrictDecoderRefusesBadInput(t *testing.T) {
	cases := map[string]string{
		"unknown field":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndatta: {}\n",
		"duplicate field": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {}\ndata: {}\n",
		"wrong type":      "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec: {template: {spec: {hostPID: yes-please}}}\n",
		"unknown kind":    "apiVersion: v1\nkind: Pood\nmetadata: {name: a}\n",
		"misspelt nested": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec: {template: {spec: {hostPid: true}}}\n",
	}
	dec := strictDecoder()
	for name, doc := range cases {
		if _, _, err := dec.Decode([]byte(doc), nil, nil); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

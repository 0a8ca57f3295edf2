package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("container/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^FROM golang:1\.26 AS build$`,
		`CGO_ENABLED=0 go build -trimpath`,
		`-ldflags "-s -w `,
		`(?m)^FROM gcr\.io/distroless/static-debian12:nonroot$`,
		`(?m)^USER 65532:65532$`,
		`(?m)^VOLUME /var/lib/sftpwatchd$`,
		`SFTPWATCHD_STATE_DIR=/var/lib/sftpwatchd`,
		`(?m)^EXPOSE 9717$`,
		`(?m)^ENTRYPOINT \["/sftpwatchd", "run"\]$`,
	} {
		if !regexp.MustCompile(want).Match(raw) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?m)^HEALTHCHECK`).Match(raw) {
		t.Error("Dockerfile has a HEALTHCHECK, but distroless has nothing to run it with")
	}
}

// k8s is the part of the Kubernetes objects the checks look at.
type k8s struct {
	Kind string            `yaml:"kind"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Template struct {
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name   string    `yaml:"name"`
					Secret *struct{} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name            string   `yaml:"name"`
	Args            []string `yaml:"args"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
	Ports          []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func kubernetesObjects(t *testing.T) map[string]k8s {
	t.Helper()
	raw, err := os.ReadFile("container/kubernetes-sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]k8s{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o k8s
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("parse kubernetes-sidecar.yaml: %v", err)
		}
		out[o.Kind] = o
	}
	return out
}

// The ConfigMap carries configs/examples/container-sidecar.yaml, which the
// configs test loads with internal/config; they must not drift apart.
func TestKubernetesConfigMapIsTheContainerExample(t *testing.T) {
	want, err := os.ReadFile("../configs/examples/container-sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cm, ok := kubernetesObjects(t)["ConfigMap"]
	if !ok {
		t.Fatal("no ConfigMap")
	}
	if got := cm.Data["config.yaml"]; got != string(want) {
		t.Fatalf("ConfigMap config.yaml differs from configs/examples/container-sidecar.yaml; copy it over.\n--- ConfigMap:\n%s", got)
	}
	var cfg struct {
		HTTP struct {
			Listen string `yaml:"listen"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(want, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Listen != "0.0.0.0:9717" {
		t.Fatalf("container config http.listen %q, want 0.0.0.0:9717 for the probes", cfg.HTTP.Listen)
	}
}

func TestKubernetesSidecar(t *testing.T) {
	objs := kubernetesObjects(t)
	dep, ok := objs["Deployment"]
	if !ok {
		t.Fatal("no Deployment")
	}
	if dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != "Recreate" {
		t.Errorf("replicas %d strategy %q: one state dir has one writer, want 1 and Recreate",
			dep.Spec.Replicas, dep.Spec.Strategy.Type)
	}
	pod := dep.Spec.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v, want runAsNonRoot and user 65532", pod.SecurityContext)
	}
	secretVolumes := map[string]bool{}
	for _, v := range pod.Volumes {
		secretVolumes[v.Name] = v.Secret != nil
	}
	var sidecar *container
	for i, c := range pod.Containers {
		sc := c.SecurityContext
		if !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s securityContext %+v: want read-only root, no privilege escalation, drop ALL", c.Name, sc)
		}
		if c.Name == "sftpwatchd" {
			sidecar = &pod.Containers[i]
		}
	}
	if sidecar == nil {
		t.Fatal("no sftpwatchd container")
	}
	if sidecar.LivenessProbe == nil || sidecar.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", sidecar.LivenessProbe)
	}
	// Started means the first scans finished: /healthz answers before any.
	if sidecar.StartupProbe == nil || sidecar.StartupProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("startup probe %+v, want GET /readyz", sidecar.StartupProbe)
	}
	if sidecar.ReadinessProbe == nil || sidecar.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", sidecar.ReadinessProbe)
	}
	if len(sidecar.Ports) != 1 || sidecar.Ports[0].ContainerPort != 9717 {
		t.Errorf("ports %+v, want 9717", sidecar.Ports)
	}
	mounts := map[string]string{}
	for _, m := range sidecar.VolumeMounts {
		mounts[m.MountPath] = m.Name
		if secretVolumes[m.Name] && !m.ReadOnly {
			t.Errorf("secret volume %s mounted writable", m.Name)
		}
	}
	for _, p := range []string{"/etc/sftpwatchd/config", "/etc/sftpwatchd/secrets", "/var/lib/sftpwatchd", "/shared/incoming"} {
		if mounts[p] == "" {
			t.Errorf("sftpwatchd container mounts nothing at %s", p)
		}
	}
	if !secretVolumes[mounts["/etc/sftpwatchd/secrets"]] {
		t.Errorf("/etc/sftpwatchd/secrets is not a Secret volume")
	}
	if len(sidecar.Args) != 2 || sidecar.Args[1] != "/etc/sftpwatchd/config/config.yaml" {
		t.Errorf("sidecar args %v, want -c /etc/sftpwatchd/config/config.yaml", sidecar.Args)
	}
}

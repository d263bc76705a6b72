package deploy

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Namespace every namespaced object must be in.
const namespace = "tessera"

// crossCheck finds what strict decoding cannot: references between the objects (ConfigMaps, Secrets, Services,
// ServiceAccounts, Roles) that name nothing, selectors that select nothing, and the agent's host access.
func crossCheck(objs []decoded) []string {
	var problems []string
	fail := func(where, format string, args ...any) {
		problems = append(problems, where+": "+fmt.Sprintf(format, args...))
	}
	names := map[string]map[string]bool{}
	has := func(kind, name string) bool { return names[kind][name] }
	type podOwner struct {
		where  string
		labels map[string]string
		spec   corev1.PodSpec
	}
	var pods []podOwner
	namespaced := func(where string, m metav1.ObjectMeta) {
		if m.Namespace != namespace {
			fail(where, "%q is in namespace %q, want %q", m.Name, m.Namespace, namespace)
		}
	}
	for _, d := range objs {
		switch o := d.obj.(type) {
		case *corev1.Namespace:
			add(names, "Namespace", o.Name)
		case *corev1.ConfigMap:
			add(names, "ConfigMap", o.Name)
			namespaced(d.where, o.ObjectMeta)
		case *corev1.Secret:
			add(names, "Secret", o.Name)
			namespaced(d.where, o.ObjectMeta)
		case *corev1.ServiceAccount:
			add(names, "ServiceAccount", o.Name)
			namespaced(d.where, o.ObjectMeta)
		case *corev1.Service:
			add(names, "Service", o.Name)
			namespaced(d.where, o.ObjectMeta)
		case *rbacv1.Role:
			add(names, "Role", o.Name)
			namespaced(d.where, o.ObjectMeta)
		case *rbacv1.RoleBinding:
			namespaced(d.where, o.ObjectMeta)
		case *appsv1.StatefulSet:
			namespaced(d.where, o.ObjectMeta)
			checkSelector(d.where, o.Spec.Selector, o.Spec.Template.Labels, fail)
			pods = append(pods, podOwner{d.where, o.Spec.Template.Labels, o.Spec.Template.Spec})
		case *appsv1.DaemonSet:
			namespaced(d.where, o.ObjectMeta)
			checkSelector(d.where, o.Spec.Selector, o.Spec.Template.Labels, fail)
			pods = append(pods, podOwner{d.where, o.Spec.Template.Labels, o.Spec.Template.Spec})
			checkAgentHostAccess(d.where, o.Spec.Template.Spec, fail)
		case *appsv1.Deployment:
			namespaced(d.where, o.ObjectMeta)
			checkSelector(d.where, o.Spec.Selector, o.Spec.Template.Labels, fail)
			pods = append(pods, podOwner{d.where, o.Spec.Template.Labels, o.Spec.Template.Spec})
		default:
			fail(d.where, "unexpected kind %T (add it to crossCheck)", o)
		}
	}
	if !has("Namespace", namespace) {
		fail("manifests", "no Namespace %q", namespace)
	}
	for _, p := range pods {
		if p.spec.ServiceAccountName == "" || !has("ServiceAccount", p.spec.ServiceAccountName) {
			fail(p.where, "serviceAccountName %q names no ServiceAccount of the manifests", p.spec.ServiceAccountName)
		}
		for _, v := range p.spec.Volumes {
			if v.ConfigMap != nil && !has("ConfigMap", v.ConfigMap.Name) {
				fail(p.where, "volume %q: no ConfigMap %q", v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && !has("Secret", v.Secret.SecretName) {
				fail(p.where, "volume %q: no Secret %q", v.Name, v.Secret.SecretName)
			}
		}
		mounts := map[string]bool{}
		for _, v := range p.spec.Volumes {
			mounts[v.Name] = true
		}
		for _, c := range append(append([]corev1.Container{}, p.spec.InitContainers...), p.spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if !mounts[m.Name] && !claimed(objs, m.Name) {
					fail(p.where, "container %q mounts %q, which is no volume of the pod", c.Name, m.Name)
				}
			}
		}
	}
	for _, d := range objs {
		switch o := d.obj.(type) {
		case *corev1.Service:
			if len(o.Spec.Selector) == 0 {
				fail(d.where, "Service %q selects no pod", o.Name)
				continue
			}
			matched := false
			for _, p := range pods {
				if labels.SelectorFromSet(o.Spec.Selector).Matches(labels.Set(p.labels)) {
					matched = true
					checkServicePorts(d.where, o, p.spec, fail)
				}
			}
			if !matched {
				fail(d.where, "Service %q selector %v matches no pod template", o.Name, o.Spec.Selector)
			}
		case *appsv1.StatefulSet:
			if !has("Service", o.Spec.ServiceName) {
				fail(d.where, "StatefulSet %q serviceName %q names no Service", o.Name, o.Spec.ServiceName)
			}
		case *rbacv1.RoleBinding:
			if o.RoleRef.Kind != "Role" || !has("Role", o.RoleRef.Name) {
				fail(d.where, "RoleBinding %q roleRef %s %q names no Role of the manifests", o.Name, o.RoleRef.Kind, o.RoleRef.Name)
			}
		}
	}
	return problems
}

func add(names map[string]map[string]bool, kind, name string) {
	if names[kind] == nil {
		names[kind] = map[string]bool{}
	}
	names[kind][name] = true
}

// claimed: a StatefulSet volumeClaimTemplate of that name (mounted like a volume).
func claimed(objs []decoded, name string) bool {
	for _, d := range objs {
		if s, ok := d.obj.(*appsv1.StatefulSet); ok {
			for _, c := range s.Spec.VolumeClaimTemplates {
				if c.Name == name {
					return true
				}
			}
		}
	}
	return false
}

func checkSelector(where string, sel *metav1.LabelSelector, podLabels map[string]string, fail func(string, string, ...any)) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || sel == nil || s.Empty() {
		fail(where, "selector %v is missing or invalid: %v", sel, err)
		return
	}
	if !s.Matches(labels.Set(podLabels)) {
		fail(where, "selector %v does not match the pod template's labels %v", sel, podLabels)
	}
}

// checkServicePorts: every named targetPort is a port name of some container of the selected pods.
func checkServicePorts(where string, svc *corev1.Service, spec corev1.PodSpec, fail func(string, string, ...any)) {
	ports := map[string]bool{}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
	}
	for _, p := range svc.Spec.Ports {
		if name := p.TargetPort.StrVal; name != "" && !ports[name] {
			fail(where, "Service %q port %q targets %q, which no container port is named", svc.Name, p.Name, name)
		}
	}
}

// checkAgentHostAccess: the agent sees every process of the node (hostPID) and serves its socket from a hostPath
// directory that workload pods mount.
func checkAgentHostAccess(where string, spec corev1.PodSpec, fail func(string, string, ...any)) {
	if !spec.HostPID {
		fail(where, "the agent DaemonSet needs hostPID: true (it reads /proc of every workload)")
	}
	hostPath := false
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPath = true
		}
	}
	if !hostPath {
		fail(where, "the agent DaemonSet has no hostPath volume for its Workload API socket")
	}
}

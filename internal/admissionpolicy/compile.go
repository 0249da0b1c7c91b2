/*
Copyright 2026 The Outrigger Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package admissionpolicy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Name is the name of the generated policy and of its binding.
const Name = "inject.sidecars.outrigger.dev"

// Options configure Compile.
type Options struct {
	// OperatorNamespace is never injected, as in the webhook.
	OperatorNamespace string
	// MaxBytes bounds the policy's size; 0 is MaxPolicyBytes.
	MaxBytes int
	// Name of the policy and binding; empty is Name.
	Name string
}

// MaxPolicyBytes is the default bound of the policy's size. etcd refuses to store an
// object of more than 1.5 MiB (its default --max-request-bytes); this leaves room for the
// object's metadata and for growth between two compilations.
const MaxPolicyBytes = 1_200_000

// Compiled is what Compile made.
type Compiled struct {
	Policy  *admissionregistrationv1.MutatingAdmissionPolicy
	Binding *admissionregistrationv1.MutatingAdmissionPolicyBinding
	// Unsupported are the sets left out of the policy, by name, with the reason.
	Unsupported map[string]string
}

// Compile returns one MutatingAdmissionPolicy that injects every source as
// inject.Inject does, and the binding that applies it to the pods the webhook is called
// for.
//
// One policy for all sets, one JSON patch evaluated once, on the pod as the request
// carries it: the API server evaluates several policies in no defined order (it ranges
// over a map of them), and the webhook's result — sets by priority, the first set to
// name a container, volume or key wins, one injection record — depends on the order.
// So a change of any set rewrites the one policy.
//
// The pod's Outrigger metadata is replaced as the webhook replaces it; a record entry
// the request carries is trusted as the webhook trusts it, within the limits trust.go
// names. The policy is never reinvoked (reinvocationPolicy Never): its own record would
// then decide what it injects.
//
// A policy with no sources still strips the request's Outrigger metadata.
func Compile(sources []inject.Source, opts Options) Compiled {
	out := Compiled{Unsupported: map[string]string{}}
	ordered := make([]inject.Source, 0, len(sources))
	for _, src := range sources {
		// A paused set injects no new pod; it is not a set the policy cannot express.
		if !inject.Injecting(src.Set) {
			continue
		}
		if _, why := matchExpr(src.Set); why != "" {
			out.Unsupported[src.Set.Name] = why
			continue
		}
		if why := overridesExpr(src); why != "" {
			out.Unsupported[src.Set.Name] = why
			continue
		}
		ordered = append(ordered, src)
	}
	inject.SortForInjection(ordered)
	budget := cmp.Or(opts.MaxBytes, MaxPolicyBytes)
	out.Policy = policyOf(ordered)
	if size(out.Policy) > budget {
		// The first n sets in injection order that fit: a set that does not fit leaves
		// the sets before it as they are, so the cut is the same on every compilation.
		lo, hi := 0, len(ordered)
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if size(policyOf(ordered[:mid])) <= budget {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		for _, src := range ordered[lo:] {
			out.Unsupported[src.Set.Name] = fmt.Sprintf("the admission policy holds the first %d of %d SidecarSets in injection order "+
				"within %d bytes (etcd stores objects of at most 1.5 MiB); this one is beyond them. While the operator runs, "+
				"the pod webhook injects it into pods that no set in the policy selects; pods the policy injects for another set, "+
				"and every pod while the operator is down, do not get it", lo, len(ordered), budget)
		}
		out.Policy = policyOf(ordered[:lo])
	}
	name := cmp.Or(opts.Name, Name)
	out.Policy.Name = name
	out.Binding = &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName:     name,
			MatchResources: matchResources(opts.OperatorNamespace),
		},
	}
	return out
}

// size is the policy's size as JSON, about what etcd stores.
func size(p *admissionregistrationv1.MutatingAdmissionPolicy) int {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // an API object always marshals
	}
	return len(b)
}

// policyOf is the policy injecting ordered, sets that compile, in injection order.
func policyOf(ordered []inject.Source) *admissionregistrationv1.MutatingAdmissionPolicy {
	c := &compiler{}
	c.prelude()
	// Every set's match variable first: variables may only refer to variables before
	// them, and the claims of one set refer to the match of others.
	for _, src := range ordered {
		match, _ := matchExpr(src.Set)
		if !src.Set.Spec.Injection.IsRequired() {
			match = "!variables.optedOut && " + match
		}
		set := compiledSet{src: src, match: fmt.Sprintf("m%d", len(c.sets))}
		c.variable(set.match, match)
		c.sets = append(c.sets, set)
	}
	c.trustVars()
	for i := range c.sets {
		c.addSet(i)
	}
	return &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: Name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
						},
					},
				}},
			},
			Variables: c.vars,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: c.patch()},
			}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
}

// matchResources are the webhook configuration's exclusions
// (config/webhook/pod_injection_selectors_patch.yaml): the system namespaces and the
// operator's. Pods and namespaces labelled sidecars.outrigger.dev/inject=false are
// matched, for the Required sets; the Optional ones skip them (variable optedOut).
func matchResources(operatorNamespace string) *admissionregistrationv1.MatchResources {
	excluded := []string{metav1.NamespaceSystem, corev1.NamespaceNodeLease}
	if operatorNamespace != "" {
		excluded = append(excluded, operatorNamespace)
	}
	return &admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded},
		}},
	}
}

// compiler collects the policy's variables: named CEL expressions the API server
// evaluates at most once per request, and only when referenced.
type compiler struct {
	vars []admissionregistrationv1.Variable
	sets []compiledSet
	// claims names the claims variable of each container name some set declares twice.
	claims map[string]string
}

// compiledSet is what the patch needs to know of one set.
type compiledSet struct {
	src   inject.Source
	match string // variable: the set selects the pod
	// trusted is the variable saying that the request's record entry for the set is one
	// the webhook would trust (see trust.go); inject, that the policy injects the set:
	// it selects the pod and is not so recorded.
	trusted, inject string
	// containers in record order (init containers, then sidecars).
	containers []compiledContainer
	volumes    []corev1.Volume
	secrets    []corev1.LocalObjectReference
	metadata   *sidecarsv1alpha1.PodMetadata
}

type compiledContainer struct {
	name     string
	zone     zone
	injected string // variable: this container is injected
	value    string // variable: the container
}

// zone is where a container goes, in the order of Inject.
type zone int

const (
	zoneSetInit zone = iota
	zoneNativeBefore
	zoneNativeAfter
	zoneBeforeApp
	zoneAfterApp
)

// variable appends a variable. A name used twice is a bug of the compiler, and a
// dangerous one: the second definition then refers to itself, and kube-apiserver 1.37.2
// admitted such a policy and died of a stack overflow evaluating it.
func (c *compiler) variable(name, expression string) {
	if slices.ContainsFunc(c.vars, func(v admissionregistrationv1.Variable) bool { return v.Name == name }) {
		panic(fmt.Sprintf("admissionpolicy: variable %s defined twice", name))
	}
	c.vars = append(c.vars, admissionregistrationv1.Variable{Name: name, Expression: expression})
}

func (c *compiler) prelude() {
	c.variable("podLabels", "object.metadata.?labels.orValue({})")
	c.variable("nsLabels", "namespaceObject.metadata.?labels.orValue({})")
	optOut := fmt.Sprintf("[?%s].orValue('') == 'false'", quote(sidecarsv1alpha1.InjectLabel))
	c.variable("optedOut", "variables.nsLabels"+optOut+" || variables.podLabels"+optOut)
	// The names the pod uses: a sidecar of the same name keeps the pod's (an override),
	// or refuses the pod (a Required set).
	c.variable("initNames", "object.spec.?initContainers.orValue([]).map(c, c.name)")
	c.variable("appNames", "object.spec.containers.map(c, c.name)")
	c.variable("ephemeralNames", "object.spec.?ephemeralContainers.orValue([]).map(c, c.name)")
	c.variable("used", "variables.initNames + variables.appNames + variables.ephemeralNames")
	c.variable("record0", "object.metadata.?annotations[?"+quote(sidecarsv1alpha1.InjectedAnnotation)+"].orValue('')")
	c.variable("volumeNames", "object.spec.?volumes.orValue([]).map(v, v.name)")
	c.variable("secretNames", "object.spec.?imagePullSecrets.orValue([]).map(s, s.name)")
	c.binaryVars()
	c.variable(cpuUnits.unitsVariable(), cpuUnits.unitsExpr())
	c.variable(memoryUnits.unitsVariable(), memoryUnits.unitsExpr())
	c.variable("memoryResize", "object.spec.?restartPolicy.orValue('Always') in ['', 'Always'] ? 'RestartContainer' : 'NotRequired'")
}

// matchExpr is CEL saying whether set selects the pod, or why it cannot be said.
func matchExpr(set *sidecarsv1alpha1.SidecarSet) (string, string) {
	pods, err := selectorExpr(set.Spec.Selector, "variables.podLabels")
	if err != nil {
		return "", fmt.Sprintf("selector: %v", err)
	}
	nss := celTrue
	if set.Spec.NamespaceSelector != nil {
		if nss, err = selectorExpr(set.Spec.NamespaceSelector, "variables.nsLabels"); err != nil {
			return "", fmt.Sprintf("namespaceSelector: %v", err)
		}
	}
	return fmt.Sprintf("(%s) && (%s)", pods, nss), ""
}

// names are the names of the containers src adds, in record order.
func names(src inject.Source) []string {
	var out []string
	for _, ic := range src.Spec.InitContainers {
		out = append(out, ic.Name)
	}
	for _, sc := range src.Spec.Containers {
		out = append(out, sc.Name)
	}
	return out
}

// addSet compiles the i-th set in injection order: its containers, and what the patch
// needs to know of its volumes, pull secrets and pod metadata.
func (c *compiler) addSet(i int) {
	set := &c.sets[i]
	src := set.src
	set.volumes, set.secrets, set.metadata = src.Spec.Volumes, src.Spec.ImagePullSecrets, src.Spec.PodMetadata
	k := 0
	add := func(name string, z zone, value any) {
		prefix := fmt.Sprintf("s%dc%d", i, k)
		k++
		injected := fmt.Sprintf("variables.%s && !(%s in variables.used)", set.inject, quote(name))
		if earlier := c.claimedBefore("container/"+name, i, func(o compiledSet) bool { return slices.Contains(names(o.src), name) }); earlier != "" {
			injected += " && !" + earlier
		}
		c.variable(prefix+"_in", injected)
		c.variable(prefix, literal(value))
		set.containers = append(set.containers, compiledContainer{name: name, zone: z, injected: prefix + "_in", value: prefix})
	}
	for _, ic := range src.Spec.InitContainers {
		add(ic.Name, zoneSetInit, mustJSONValue(ic))
	}
	drain := src.Set.Spec.UpdateStrategy.Drain.EffectiveSeconds()
	for j := range src.Spec.Containers {
		sc := &src.Spec.Containers[j]
		v := c.container(fmt.Sprintf("s%dc%d", i, k), sc, drain)
		var z zone
		switch sc.EffectivePlacement() {
		case sidecarsv1alpha1.PlacementBeforeInit:
			z = zoneNativeBefore
		case sidecarsv1alpha1.PlacementAfterInit:
			z = zoneNativeAfter
		case sidecarsv1alpha1.PlacementBeforeApp:
			z = zoneBeforeApp
		default:
			z = zoneAfterApp
		}
		add(sc.Name, z, v)
	}
}

// claimedBefore is CEL saying that one of the sets before the i-th for which declares
// holds selects the pod — the first matching set takes a container name, a volume
// name, a label key — or "" when none before it declares. The declarers of one key
// share one list of their match variables, sliced: a thousand sets naming their sidecar
// alike cost the policy a thousand list elements, not half a million terms.
func (c *compiler) claimedBefore(key string, i int, declares func(compiledSet) bool) string {
	v, ok := c.claims[key]
	if !ok {
		var matches []string
		for _, s := range c.sets {
			if declares(s) {
				matches = append(matches, "variables."+s.inject)
			}
		}
		if c.claims == nil {
			c.claims = map[string]string{}
		}
		v = fmt.Sprintf("claims%d", len(c.claims))
		c.claims[key] = v
		c.variable(v, list(matches))
	}
	k := 0
	for _, s := range c.sets[:i] {
		if declares(s) {
			k++
		}
	}
	if k == 0 {
		return ""
	}
	return fmt.Sprintf("variables.%s.slice(0, %d).exists(t, t)", v, k)
}

// container is the JSON value of a sidecar, with CEL where the webhook derives a field
// from the pod: resources (resourcesPolicy), volumeMounts (shareVolumes), env
// (transferEnv) and the memory resize policy (the pod's restartPolicy).
func (c *compiler) container(prefix string, sc *sidecarsv1alpha1.SidecarContainer, drain int32) any {
	built := inject.Sidecar(sc, drain)
	fields := mustJSONValue(built).(map[string]any)
	if !slices.ContainsFunc(sc.ResizePolicy, func(p corev1.ContainerResizePolicy) bool { return p.ResourceName == corev1.ResourceMemory }) {
		for _, p := range fields["resizePolicy"].([]any) {
			if p := p.(map[string]any); p["resourceName"] == string(corev1.ResourceMemory) {
				p["restartPolicy"] = expr("variables.memoryResize")
			}
		}
	}
	if sc.ResourcesPolicy != nil {
		fields["resources"] = c.resourceVars(prefix, sc.ResourcesPolicy)
	}
	if sc.ShareVolumes {
		paths := make([]string, 0, len(built.VolumeMounts))
		for _, m := range built.VolumeMounts {
			paths = append(paths, m.MountPath)
		}
		c.variable(prefix+"_mounts", "variables.app.map(a, a.?volumeMounts.orValue([])).flatten()")
		m := "variables." + prefix + "_mounts"
		c.variable(prefix+"_shared", fmt.Sprintf("%s.transformList(i, m, !(m.mountPath in %s) && !%s.slice(0, i).exists(x, x.mountPath == m.mountPath), m)",
			m, stringList(paths), m))
		fields["volumeMounts"] = expr(fmt.Sprintf("dyn(%s) + dyn(variables.%s_shared)", listLiteral(fields["volumeMounts"]), prefix))
	}
	if len(sc.TransferEnv) > 0 {
		have := make([]string, 0, len(built.Env))
		for _, e := range built.Env {
			have = append(have, e.Name)
		}
		env := []string{"dyn(" + listLiteral(fields["env"]) + ")"}
		haveExpr := stringList(have)
		for j, t := range sc.TransferEnv {
			name := fmt.Sprintf("%s_env%d", prefix, j)
			c.variable(name+"_src", fmt.Sprintf("variables.app.exists(c, c.name == %s) ? variables.app.filter(c, c.name == %s)[0].?env.orValue([]) : []",
				quote(t.SourceContainer), quote(t.SourceContainer)))
			src := "variables." + name + "_src"
			wanted := "true"
			if len(t.Names) > 0 {
				wanted = fmt.Sprintf("e.name in %s", stringList(t.Names))
			}
			c.variable(name, fmt.Sprintf("%s.transformList(i, e, %s && !(e.name in %s) && !%s.slice(0, i).exists(x, x.name == e.name), e)",
				src, wanted, haveExpr, src))
			env = append(env, "dyn(variables."+name+")")
			haveExpr = fmt.Sprintf("(%s + variables.%s.map(e, e.name))", haveExpr, name)
		}
		fields["env"] = expr(strings.Join(env, " + "))
	}
	return fields
}

// listLiteral is literal for a list field that JSON omits when empty.
func listLiteral(v any) string {
	if v == nil {
		return "[]"
	}
	return literal(v)
}

// patch is the JSON patch expression of the policy's one mutation.
func (c *compiler) patch() string {
	c.recordedVar()
	refused := c.refusalsVar()
	ops := []string{
		c.containersOp("/spec/initContainers", "object.spec.?initContainers.orValue([])", []zone{zoneSetInit, zoneNativeBefore}, []zone{zoneNativeAfter}),
		c.containersOp("/spec/containers", "object.spec.containers", []zone{zoneBeforeApp}, []zone{zoneAfterApp}),
		c.volumesOp(),
		c.secretsOp(),
		c.metadataOp("labels", func(md *sidecarsv1alpha1.PodMetadata) map[string]string { return md.Labels }, c.labelOps()),
		c.metadataOp("annotations", func(md *sidecarsv1alpha1.PodMetadata) map[string]string { return md.Annotations }, c.annotationOps()),
		c.readinessGateOp(),
	}
	for i, op := range ops {
		ops[i] = "(" + op + ")"
	}
	// A pod opted out that no Required set selects is left as the request has it, as the
	// webhook leaves it.
	return fmt.Sprintf("variables.optedOut && !%s ? [] : (%s ? %s : %s)", c.recorded(), refused, refusalOp, strings.Join(ops, " + "))
}

// maxExpression is how many bytes of CEL one variable holds at most: the API server
// refuses an expression of more than 100,000 code points.
const maxExpression = 60_000

// listVariable defines the list of elems as variables of at most maxExpression bytes
// each and returns CEL for the whole list.
func (c *compiler) listVariable(name string, elems []string) string {
	var chunks [][]string
	size := 0
	for _, e := range elems {
		if len(chunks) == 0 || size+len(e) > maxExpression {
			chunks = append(chunks, nil)
			size = 0
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], e)
		size += len(e) + 2
	}
	switch len(chunks) {
	case 0:
		return "[]"
	case 1:
		c.variable(name, list(chunks[0]))
		return "variables." + name
	}
	parts := make([]string, len(chunks))
	for i, chunk := range chunks {
		c.variable(fmt.Sprintf("%s%d", name, i), list(chunk))
		parts[i] = fmt.Sprintf("variables.%s%d", name, i)
	}
	c.variable(name, strings.Join(parts, " + "))
	return "variables." + name
}

// recordedVar defines the variable recorded, true when some set selects the pod: every
// such set is recorded, even one whose containers the pod all overrides.
func (c *compiler) recordedVar() {
	terms := make([]string, len(c.sets))
	for i, s := range c.sets {
		terms[i] = "variables." + s.match
	}
	c.variable("recorded", c.listVariable("matches", terms)+".exists(t, t)")
}

func (c *compiler) recorded() string { return "variables.recorded" }

func (c *compiler) containersOp(path, own string, before, after []zone) string {
	pick := func(zones []zone) []string {
		var elems []string
		for _, z := range zones {
			for _, s := range c.sets {
				for _, cc := range s.containers {
					if cc.zone == z {
						elems = append(elems, fmt.Sprintf("?(variables.%s ? optional.of(variables.%s) : optional.none())", cc.injected, cc.value))
					}
				}
			}
		}
		return elems
	}
	be, ae := pick(before), pick(after)
	if len(be)+len(ae) == 0 {
		return "[]"
	}
	name := strings.TrimPrefix(path, "/spec/")
	b, a := c.listVariable(name+"Before", be), c.listVariable(name+"After", ae)
	return fmt.Sprintf("size(%s) + size(%s) > 0 ? [JSONPatch{op: 'add', path: %s, value: dyn(%s) + dyn(%s) + dyn(%s)}] : []",
		b, a, quote(path), b, own, a)
}

// volumesOp adds each set's volumes the pod does not have by name, the first set's
// where two name the same volume.
func (c *compiler) volumesOp() string {
	var elems []string
	for i, s := range c.sets {
		for _, v := range s.volumes {
			cond := fmt.Sprintf("variables.%s && !(%s in variables.volumeNames)", s.inject, quote(v.Name))
			if earlier := c.claimedBefore("volume/"+v.Name, i, func(o compiledSet) bool {
				return slices.ContainsFunc(o.src.Spec.Volumes, func(ov corev1.Volume) bool { return ov.Name == v.Name })
			}); earlier != "" {
				cond += " && !" + earlier
			}
			elems = append(elems, fmt.Sprintf("?(%s ? optional.of(%s) : optional.none())", cond, literal(mustJSONValue(v))))
		}
	}
	if len(elems) == 0 {
		return "[]"
	}
	v := c.listVariable("addVolumes", elems)
	return fmt.Sprintf("size(%s) > 0 ? [JSONPatch{op: 'add', path: '/spec/volumes', value: dyn(object.spec.?volumes.orValue([])) + dyn(%s)}] : []", v, v)
}

func (c *compiler) secretsOp() string {
	var elems []string
	for i, s := range c.sets {
		for _, ps := range s.secrets {
			cond := fmt.Sprintf("variables.%s && !(%s in variables.secretNames)", s.inject, quote(ps.Name))
			declares := func(o compiledSet) bool { return slices.Contains(o.src.Spec.ImagePullSecrets, ps) }
			if earlier := c.claimedBefore("secret/"+ps.Name, i, declares); earlier != "" {
				cond += " && !" + earlier
			}
			elems = append(elems, fmt.Sprintf("?(%s ? optional.of({'name': %s}) : optional.none())", cond, quote(ps.Name)))
		}
	}
	if len(elems) == 0 {
		return "[]"
	}
	v := c.listVariable("addSecrets", elems)
	return fmt.Sprintf("size(%s) > 0 ? [JSONPatch{op: 'add', path: '/spec/imagePullSecrets', "+
		"value: dyn(object.spec.?imagePullSecrets.orValue([])) + dyn(%s)}] : []", v, v)
}

// metadataOp adds the sets' podMetadata entries of one map (labels or annotations) the
// pod does not have, the first set's where two name the same key, followed by owned,
// the operations on Outrigger's own keys.
func (c *compiler) metadataOp(field string, entries func(*sidecarsv1alpha1.PodMetadata) map[string]string, owned []string) string {
	podMap := "object.metadata.?" + field + ".orValue({})"
	var elems []string
	for i, s := range c.sets {
		if s.metadata == nil {
			continue
		}
		m := entries(s.metadata)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			cond := fmt.Sprintf("variables.%s && !(%s in %s)", s.inject, quote(k), podMap)
			if earlier := c.claimedBefore(field+"/"+k, i, func(o compiledSet) bool {
				if o.src.Spec.PodMetadata == nil {
					return false
				}
				_, ok := entries(o.src.Spec.PodMetadata)[k]
				return ok
			}); earlier != "" {
				cond += " && !" + earlier
			}
			op := opData("add", "/metadata/"+field+"/"+escapePointer(k), quote(m[k]))
			elems = append(elems, fmt.Sprintf("?(%s ? optional.of(%s) : optional.none())", cond, op))
		}
	}
	elems = append(elems, owned...)
	// JSONPatch values cannot be built in variables: the operations are data there and
	// become JSONPatch in the mutation.
	name := strings.TrimPrefix(c.listVariable(field+"Ops", elems), "variables.")
	ops := fmt.Sprintf("variables.%s.map(o, o.op == 'remove' ? JSONPatch{op: 'remove', path: string(o.path)} : "+
		"JSONPatch{op: 'add', path: string(o.path), value: o.value})", name)
	return fmt.Sprintf("(size(variables.%s) > 0 && !has(object.metadata.%s) ? [JSONPatch{op: 'add', path: '/metadata/%s', value: {}}] : []) + %s",
		name, field, field, ops)
}

// opData is a JSON patch operation as a CEL map, value a CEL expression (empty: none).
func opData(op, path, value string) string {
	if value == "" {
		value = celNull
	}
	return fmt.Sprintf("{'op': dyn(%s), 'path': dyn(%s), 'value': dyn(%s)}", quote(op), quote(path), value)
}

// ownedKeyOps write key with value when recorded, else remove it if the pod has it.
func ownedKeyOps(field, key, recorded, value string) []string {
	path := "/metadata/" + field + "/" + escapePointer(key)
	has := fmt.Sprintf("%s in object.metadata.?%s.orValue({})", quote(key), field)
	return []string{
		fmt.Sprintf("?(%s ? optional.of(%s) : optional.none())", recorded, opData("add", path, value)),
		fmt.Sprintf("?(!(%s) && %s ? optional.of(%s) : optional.none())", recorded, has, opData("remove", path, "")),
	}
}

func (c *compiler) labelOps() []string {
	return ownedKeyOps("labels", sidecarsv1alpha1.InjectedLabel, c.recorded(), quote(sidecarsv1alpha1.InjectedLabelValue))
}

func (c *compiler) annotationOps() []string {
	c.recordVars()
	ops := ownedKeyOps("annotations", sidecarsv1alpha1.InjectedAnnotation, c.recorded(), "variables.record")
	// A pod being created has no upgrade in flight.
	upgrade := sidecarsv1alpha1.UpgradeAnnotation
	return append(ops, fmt.Sprintf("?(%s in object.metadata.?annotations.orValue({}) ? optional.of(%s) : optional.none())",
		quote(upgrade), opData("remove", "/metadata/annotations/"+escapePointer(upgrade), "")))
}

// recordVars adds the variable record: the injection record's JSON exactly as
// InjectionRecords.String writes it — keys sorted, fields in struct order, containers
// null when empty, overridden and overriddenVolumes omitted when empty.
func (c *compiler) recordVars() {
	byName := slices.Clone(c.sets)
	slices.SortFunc(byName, func(a, b compiledSet) int { return cmp.Compare(a.src.Set.Name, b.src.Set.Name) })
	// One entry per set as data — whether recorded, the constant head, the injected and
	// the overridden names — formatted by one expression, so that a set costs the policy
	// its data only.
	index := map[string]int{}
	for i, s := range c.sets {
		index[s.src.Set.Name] = i
	}
	var entries []string
	for _, s := range byName {
		var injected, overridden []string
		for _, cc := range s.containers {
			injected = append(injected, fmt.Sprintf("?(variables.%s ? optional.of(%s) : optional.none())", cc.injected, quote(cc.name)))
			overridden = append(overridden, fmt.Sprintf("?(!variables.%s ? optional.of(%s) : optional.none())", cc.injected, quote(cc.name)))
		}
		entries = append(entries, fmt.Sprintf("{'on': dyn(variables.%s), 'trusted': dyn(variables.%s), 'text': dyn(%s), "+
			"'head': dyn(%s), 'added': dyn(%s), 'kept': dyn(%s), 'keptVolumes': dyn(%s)}",
			s.match, s.trusted, trustedText(s), "variables."+s.head(), list(injected), list(overridden), c.keptVolumes(index[s.src.Set.Name])))
	}
	format := `string(e.head) + (size(e.added) == 0 ? 'null' : '["' + e.added.join('","') + '"]') + ` +
		`(size(e.kept) == 0 ? '' : ',"overridden":["' + e.kept.join('","') + '"]') + ` +
		`(size(e.keptVolumes) == 0 ? '' : ',"overriddenVolumes":["' + e.keptVolumes.join('","') + '"]') + '}'`
	c.variable("record", "'{' + "+c.listVariable("entries", entries)+".filter(e, e.on).map(e, e.trusted ? string(e.text) : "+format+").join(',') + '}'")
}

// readinessGateOp keeps Outrigger's readiness gate on the pod exactly when a recorded set
// wants one, as settleReadinessGate does.
func (c *compiler) readinessGateOp() string {
	var want []string
	for _, s := range c.sets {
		if s.src.Set.Spec.UpdateStrategy.Drain.ReadinessGateEnabled() {
			want = append(want, "variables."+s.match)
		}
	}
	gate := quote(sidecarsv1alpha1.SidecarsReadyCondition)
	c.variable("gates", "object.spec.?readinessGates.orValue([])")
	c.variable("hasGate", "variables.gates.exists(g, g.conditionType == "+gate+")")
	c.variable("wantGate", c.listVariable("gateMatches", want)+".exists(t, t)")
	add := "[JSONPatch{op: 'add', path: '/spec/readinessGates', value: dyn(variables.gates) + dyn([{'conditionType': %s}])}]"
	remove := "[JSONPatch{op: 'remove', path: '/spec/readinessGates'}]"
	keepOthers := "[JSONPatch{op: 'add', path: '/spec/readinessGates', value: variables.gates.filter(g, g.conditionType != %s)}]"
	return fmt.Sprintf("variables.wantGate && !variables.hasGate ? "+add+" : (!variables.wantGate && variables.hasGate ? "+
		"(variables.gates.all(g, g.conditionType == %s) ? "+remove+" : "+keepOthers+") : [])", gate, gate, gate)
}

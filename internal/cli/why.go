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

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/upgrade"
)

const whyExample = `  # Why a running pod has (or lacks) each SidecarSet's sidecars
  kubectl outrigger why web-7d9f8c6b-x2x4z -n payments

  # Whether a pod not yet created would get them (a Deployment's template works too)
  kubectl outrigger why -f pod.yaml

  # With no cluster: sets and namespace labels from files
  kubectl outrigger why -f pod.yaml --sidecarsets sets.yaml --namespace-labels team=payments`

type whyOptions struct {
	file            string
	setsFile        string
	namespaceLabels string
	output          string
}

func newWhyCommand(o *Options) *cobra.Command {
	wo := &whyOptions{}
	cmd := &cobra.Command{
		Use:   "why (POD | -f FILE)",
		Short: "Say, for every SidecarSet, whether it injects a pod and why not",
		Long: `Say, for every SidecarSet, whether it injects the pod, and if not why: its selector
or namespaceSelector, an opt-out label on the pod or its namespace, a namespace
Outrigger never touches, injection paused, the set being deleted, or a rule that would
make the webhook refuse the pod. Notes say which revision a pin gives, which containers
the pod overrides, and whether the admission policy engine can express the set.

For a pod of the cluster it also shows each set's injection record on the pod, its
in-flight upgrade, where it stands in the rollout and what the rollout's next step
for it would be.`,
		Example: whyExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (wo.file != "") {
				return fmt.Errorf("give either a pod name or -f FILE")
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runWhy(cmd.Context(), o, wo, name)
		},
	}
	cmd.Flags().StringVarP(&wo.file, "filename", "f", "", "A Pod (or a workload with a pod template) to explain, - for standard input.")
	cmd.Flags().StringVar(&wo.setsFile, "sidecarsets", "",
		"Read the SidecarSets (and the ControllerRevisions they pin) from this file or directory instead of the cluster.")
	cmd.Flags().StringVar(&wo.namespaceLabels, "namespace-labels", "",
		"Labels of the pod's namespace, instead of the cluster's: key=value,..., or a file of Namespace manifests.")
	outputFlag(cmd, &wo.output, "json, yaml; text by default")
	return cmd
}

// Explanation is what why says of one pod.
type Explanation struct {
	Namespace       string            `json:"namespace"`
	Pod             string            `json:"pod"`
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`
	// Excluded says why no set may touch the pod at all.
	Excluded    string    `json:"excluded,omitempty"`
	SidecarSets []Verdict `json:"sidecarSets"`
}

// Verdict is one set's answer for the pod.
type Verdict struct {
	SidecarSet string `json:"sidecarSet"`
	// Injects says the set injects the pod (or would, at its creation).
	Injects bool   `json:"injects"`
	Reason  string `json:"reason"`
	// Refused says the webhook would refuse the pod because of this set.
	Refused bool     `json:"refused,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	// Record is the set's injection record on the pod.
	Record *sidecarsv1alpha1.InjectionRecord `json:"record,omitempty"`
	// Upgrade is the pod's in-flight upgrade by this set.
	Upgrade *upgrade.State `json:"upgrade,omitempty"`
	// Rollout is where the pod stands in the set's rollout, and Next the rollout's next
	// step for it.
	Rollout *PodStatus `json:"rollout,omitempty"`
	Next    string     `json:"next,omitempty"`
}

func runWhy(ctx context.Context, o *Options, wo *whyOptions, name string) error {
	switch wo.output {
	case "", formatJSON, formatYAML:
	default:
		return unknownOutput(wo.output, "json, yaml")
	}
	defaultNS, err := o.namespace()
	if err != nil {
		return err
	}
	injector, err := o.injector(ctx, wo.setsFile, wo.namespaceLabels)
	if err != nil {
		return err
	}
	var pod *corev1.Pod
	if name != "" {
		c, err := o.NewClient()
		if err != nil {
			return err
		}
		pod = &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: defaultNS, Name: name}, pod); err != nil {
			return err
		}
	} else {
		if pod, err = podFromFile(wo.file, o.Streams.In); err != nil {
			return err
		}
		if pod.Namespace == "" {
			pod.Namespace = defaultNS
		}
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := injector.Reader.Get(ctx, client.ObjectKey{Name: pod.Namespace}, ns); err != nil {
		return fmt.Errorf("reading namespace %s (or give its labels with --namespace-labels): %w", pod.Namespace, err)
	}
	ex := explain(ctx, injector.Reader, o.OperatorNamespace, pod, ns, injector.Sets.List(), o.Now())
	if ok, err := printStructured(o.Streams.Out, wo.output, ex); ok {
		return err
	}
	return printExplanation(o.Streams.Out, ex)
}

// podFromFile reads the first Pod or pod template of file.
func podFromFile(file string, in io.Reader) (*corev1.Pod, error) {
	docs, err := readDocuments([]string{file}, in)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if d.kind == kindPod {
			pod := &corev1.Pod{}
			return pod, json.Unmarshal(d.raw, pod)
		}
		path, ok := templatePaths[d.kind]
		if !ok {
			continue
		}
		obj := map[string]any{}
		if err := json.Unmarshal(d.raw, &obj); err != nil {
			return nil, err
		}
		var cur any = obj
		for _, k := range path {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		raw, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		tmpl := &corev1.PodTemplateSpec{}
		if err := json.Unmarshal(raw, tmpl); err != nil {
			return nil, err
		}
		pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
		pod.Namespace = d.ns
		if pod.Name == "" {
			pod.Name = d.name + " (template of " + d.kind + ")"
		}
		return pod, nil
	}
	return nil, fmt.Errorf("%s holds no Pod and no pod template", file)
}

// explain is every set's verdict on pod in ns, sets by name.
func explain(ctx context.Context, r client.Reader, operatorNS string, pod *corev1.Pod, ns *metav1.PartialObjectMetadata,
	sets []*sidecarsv1alpha1.SidecarSet, now time.Time) Explanation {
	ex := Explanation{Namespace: pod.Namespace, Pod: pod.Name, NamespaceLabels: ns.Labels, SidecarSets: []Verdict{},
		Excluded: inject.Excluded(ns, operatorNS)}
	sorted := slices.Clone(sets)
	slices.SortFunc(sorted, func(a, b *sidecarsv1alpha1.SidecarSet) int { return strings.Compare(a.Name, b.Name) })
	records, _ := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	state, _ := upgrade.ParseState(pod)
	for _, set := range sorted {
		v := verdict(ctx, r, operatorNS, pod, ns, set, ex.Excluded)
		if rec, ok := records[set.Name]; ok && pod.UID != "" {
			v.Record = &rec
			if !v.Injects {
				v.Notes = append(v.Notes, fmt.Sprintf(
					"the pod still carries the set's record of revision %s: it was injected before and the set no longer selects it", rec.Revision))
			}
		}
		if v.Injects && pod.UID != "" {
			rollout(ctx, r, operatorNS, pod, set, state, now, &v)
		}
		ex.SidecarSets = append(ex.SidecarSets, v)
	}
	return ex
}

// verdict is whether set injects pod at its creation, and why not.
func verdict(ctx context.Context, r client.Reader, operatorNS string, pod *corev1.Pod, ns *metav1.PartialObjectMetadata,
	set *sidecarsv1alpha1.SidecarSet, excluded string) Verdict {
	v := Verdict{SidecarSet: set.Name}
	no := func(reason string) Verdict { v.Reason = reason; return v }
	if excluded != "" {
		return no(excluded)
	}
	if out := inject.OptedOut(pod, ns); !inject.Applies(set, out) {
		return no(out + " and the set's injection.enforcement is Optional")
	}
	sel, err := inject.NewSelector(set)
	if err != nil {
		return no("its selector does not parse: " + err.Error())
	}
	if !sel.MatchesLabels(pod.Labels) {
		return no(fmt.Sprintf("selector %s does not match the pod's labels", selectorString(set.Spec.Selector)))
	}
	if ok, err := sel.Matches(pod, ns); err != nil {
		return no("its namespaceSelector does not parse: " + err.Error())
	} else if !ok {
		return no(fmt.Sprintf("namespaceSelector %s does not match namespace %s (labels %s)",
			selectorString(set.Spec.NamespaceSelector), ns.Name, labelsString(ns.Labels)))
	}
	if set.DeletionTimestamp != nil {
		return no("the SidecarSet is being deleted")
	}
	if set.Spec.Injection.Paused {
		return no("injection.paused is true: new pods are not injected (injected pods still follow its rollout)")
	}
	src, err := target(ctx, r, operatorNS, set)
	if err != nil {
		v.Refused = true
		return no("the webhook refuses the pod: " + err.Error())
	}
	res, err := inject.Inject(pod, []inject.Source{src})
	if err != nil {
		v.Refused = true
		return no("the webhook refuses the pod: " + err.Error())
	}
	v.Injects, v.Reason = true, "selector and namespaceSelector match"
	if set.Spec.NamespaceSelector == nil {
		v.Reason = fmt.Sprintf("selector %s matches (no namespaceSelector)", selectorString(set.Spec.Selector))
	}
	if set.Spec.Injection.Revision != "" {
		v.Notes = append(v.Notes, "spec.injection.revision pins revision "+set.Spec.Injection.Revision+": new pods get it, not the current spec")
	} else {
		v.Notes = append(v.Notes, "new pods get revision "+src.Revision)
	}
	// An injected pod's own record says what it overrode; a new pod's, Inject's result.
	recs, err := sidecarsv1alpha1.ParseInjectionRecords(pod.Annotations)
	if _, injected := recs[set.Name]; err != nil || !injected {
		recs, err = sidecarsv1alpha1.ParseInjectionRecords(res.Pod.Annotations)
	}
	if err == nil {
		for _, c := range recs[set.Name].Overridden {
			v.Notes = append(v.Notes, "the pod declares container "+c+" itself: it keeps its own")
		}
	}
	if c := meta.FindStatusCondition(set.Status.Conditions, sidecarsv1alpha1.ConditionAdmissionPolicy); c != nil && c.Status == metav1.ConditionFalse {
		v.Notes = append(v.Notes, fmt.Sprintf("the admission policy engine cannot inject it (%s: %s): the webhook does", c.Reason, c.Message))
	}
	return v
}

// rollout fills what the set's rollout makes of an injected pod of the cluster.
func rollout(ctx context.Context, r client.Reader, operatorNS string, pod *corev1.Pod, set *sidecarsv1alpha1.SidecarSet,
	state *upgrade.State, now time.Time, v *Verdict) {
	src, err := target(ctx, r, operatorNS, set)
	if err != nil {
		return
	}
	ev := &namespaceEvents{c: r, ctx: ctx, byNS: map[string][]corev1.Event{}}
	ps := podStatus(set, src, pod, ev.of(pod.Namespace))
	v.Rollout = &ps
	if state != nil && state.Set == set.Name {
		v.Upgrade = state
	}
	switch ps.State {
	case StateMissing:
		v.Next = "nothing: the rollout reaches only pods the set injected"
		return
	case StateUpdated:
		v.Next = "nothing: the pod runs the target revision " + src.Revision
		return
	case StateNotUpgradable:
		if set.Spec.UpdateStrategy.EffectiveOnImmutableChange() == sidecarsv1alpha1.ImmutableChangeEvict {
			v.Next = "evict the pod (onImmutableChange Evict), within maxUnavailable and its PodDisruptionBudgets"
		} else {
			v.Next = "nothing: reported only (onImmutableChange Skip); recreate the pod to update it"
		}
		return
	case StatePending:
		if state != nil && state.Set != set.Name {
			v.Next = "wait: SidecarSet " + state.Set + " is upgrading the pod"
			return
		}
	}
	step := upgrade.Next(upgrade.Input{
		Pod: pod, State: state, Set: set.Name, Spec: src.Spec,
		Target:           upgrade.Target{Revision: src.Revision, Hash: src.Hash, ImageFreeHash: src.ImageFreeHash},
		DrainSeconds:     set.Spec.UpdateStrategy.Drain.EffectiveSeconds(),
		ProgressDeadline: set.Spec.UpdateStrategy.EffectiveProgressDeadline(),
		Now:              now,
	})
	v.Next = describeStep(step, set)
	if ps.State == StatePending {
		v.Next = "when the rollout picks the pod: " + v.Next
	}
}

// describeStep says what upgrade.Next decided, in words.
func describeStep(step upgrade.Step, set *sidecarsv1alpha1.SidecarSet) string {
	switch step.Action {
	case upgrade.ActionBegin:
		s := ""
		if step.State.Drain {
			s = fmt.Sprintf("drain the pod (readiness gate False, it leaves its Services), wait %ds, then ", set.Spec.UpdateStrategy.Drain.EffectiveSeconds())
		}
		return s + "swap " + changes(step.State)
	case upgrade.ActionDrain:
		return "set the readiness gate False (the pod leaves its Services)"
	case upgrade.ActionWaitDrain:
		return fmt.Sprintf("wait %s more for the drain, then swap", step.After.Round(time.Second))
	case upgrade.ActionSwap:
		return "swap " + changes(step.State)
	case upgrade.ActionWaitKubelet:
		return "wait for the kubelet: " + step.Reason
	case upgrade.ActionFinish:
		return "finish: record revision " + step.State.Revision + " and set the readiness gate True"
	case upgrade.ActionFail:
		return "mark the upgrade failed: " + step.Reason
	default:
		if step.Reason != "" {
			return "nothing: " + step.Reason
		}
		return "nothing"
	}
}

func changes(s *upgrade.State) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(s.Images)) {
		parts = append(parts, n+" to image "+s.Images[n])
	}
	for _, n := range slices.Sorted(maps.Keys(s.Resources)) {
		parts = append(parts, "resize "+n)
	}
	return strings.Join(parts, ", ")
}

func selectorString(s *metav1.LabelSelector) string {
	if s == nil {
		return none
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return "<invalid>"
	}
	return sel.String()
}

func labelsString(l map[string]string) string {
	if len(l) == 0 {
		return none
	}
	return labels.Set(l).String()
}

func printExplanation(stdout io.Writer, ex Explanation) error {
	var out strings.Builder
	fmt.Fprintf(&out, "Pod %s/%s; namespace labels: %s\n", ex.Namespace, ex.Pod, labelsString(ex.NamespaceLabels))
	if ex.Excluded != "" {
		fmt.Fprintf(&out, "No SidecarSet injects it: %s.\n", ex.Excluded)
	}
	fmt.Fprintln(&out)
	var w strings.Builder
	fmt.Fprintln(&w, "SIDECARSET\tINJECTS\tWHY")
	for _, v := range ex.SidecarSets {
		injects := "no"
		switch {
		case v.Injects:
			injects = "yes"
		case v.Refused:
			injects = "refused"
		}
		fmt.Fprintf(&w, "%s\t%s\t%s\n", v.SidecarSet, injects, v.Reason)
	}
	if _, err := io.WriteString(stdout, out.String()); err != nil {
		return err
	}
	if err := tabulate(stdout, w.String()); err != nil {
		return err
	}
	out.Reset()
	for _, v := range ex.SidecarSets {
		if len(v.Notes) == 0 && v.Record == nil && v.Rollout == nil {
			continue
		}
		fmt.Fprintf(&out, "\n%s:\n", v.SidecarSet)
		for _, n := range v.Notes {
			fmt.Fprintf(&out, "  note:     %s\n", n)
		}
		if r := v.Record; r != nil {
			fmt.Fprintf(&out, "  record:   revision %s, hash %s, containers %s", r.Revision, r.Hash, strings.Join(r.Containers, ","))
			if len(r.Overridden) > 0 {
				fmt.Fprintf(&out, ", overridden %s", strings.Join(r.Overridden, ","))
			}
			fmt.Fprintln(&out)
		}
		if v.Rollout != nil {
			if s := v.Upgrade; s != nil {
				fmt.Fprintf(&out, "  upgrade:  to revision %s: %s\n", s.Revision, changes(s))
			} else {
				fmt.Fprintln(&out, "  upgrade:  none in flight")
			}
			fmt.Fprintf(&out, "  state:    %s", v.Rollout.State)
			if v.Rollout.Reason != "" {
				fmt.Fprintf(&out, " (%s)", v.Rollout.Reason)
			}
			fmt.Fprintln(&out)
		}
		if v.Next != "" {
			fmt.Fprintf(&out, "  next:     %s\n", v.Next)
		}
	}
	_, err := io.WriteString(stdout, out.String())
	return err
}

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
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

const statusExample = `  # Every pod of every SidecarSet, and where it stands
  kubectl outrigger status

  # The pods of one set in one namespace, following changes
  kubectl outrigger status proxy -n payments --watch

  # One line per workload
  kubectl outrigger status proxy --by workload

  # For scripts: the pods that failed to upgrade
  kubectl outrigger status proxy -o json | jq '.pods[] | select(.state == "Failed")'`

type statusOptions struct {
	by            string
	output        string
	watch         bool
	allNamespaces bool
}

func newStatusCommand(o *Options) *cobra.Command {
	so := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [SIDECARSET]",
		Short: "Show where each pod stands in its SidecarSets' rollouts",
		Long: `Show, for every pod a SidecarSet selects, the revision its sidecars run and its
rollout state:

  Updated        runs the set's target revision
  Pending        can be upgraded in place and waits for its turn (REASON says what holds it)
  Draining       left its Services (readiness gate False) before its sidecars restart
  Swapping       its sidecars restart on the new spec; REASON quotes the kubelet
  Failed         the upgrade did not finish within progressDeadlineSeconds; REASON quotes the kubelet
  NotUpgradable  the change cannot be made to a running pod (REASON says why)
  Missing        the set selects the pod but never injected it

AGE is how long the pod has been in that state. The first table is what the sets'
status says (kubectl get scs).`,
		Example: statusExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runStatus(cmd.Context(), o, so, name)
		},
	}
	cmd.Flags().StringVar(&so.by, "by", "pod", "One line per pod or per workload.")
	cmd.Flags().BoolVarP(&so.watch, "watch", "w", false, "After the first listing, print pods whose state changes.")
	allNamespacesFlag(cmd, &so.allNamespaces)
	outputFlag(cmd, &so.output, "json, yaml; a table by default")
	return cmd
}

// Report is what status -o json|yaml prints.
type Report struct {
	SidecarSets []SetSummary `json:"sidecarSets"`
	Pods        []PodStatus  `json:"pods"`
}

// SetSummary is a set's status, as its printer columns and conditions say it.
type SetSummary struct {
	Name           string             `json:"name"`
	Matched        int32              `json:"matched"`
	Updated        int32              `json:"updated"`
	Ready          int32              `json:"ready"`
	NotUpgradable  int32              `json:"notUpgradable"`
	Missing        int32              `json:"missing"`
	UpdateRevision string             `json:"updateRevision,omitempty"`
	Target         string             `json:"target,omitempty"`
	Conditions     []metav1.Condition `json:"conditions,omitempty"`
	// Error says why the set's pods could not be listed (a pin to a missing revision...).
	Error string `json:"error,omitempty"`
}

func runStatus(ctx context.Context, o *Options, so *statusOptions, name string) error {
	switch so.by {
	case "pod", "workload":
	default:
		return fmt.Errorf("--by must be pod or workload, not %q", so.by)
	}
	switch so.output {
	case "", formatJSON, formatYAML:
	default:
		return unknownOutput(so.output, "json, yaml")
	}
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	ns := ""
	if !so.allNamespaces {
		if n, overridden, err := o.Flags.ToRawKubeConfigLoader().Namespace(); err == nil && overridden {
			ns = n
		}
	}
	report, err := o.report(ctx, c, name, ns)
	if err != nil {
		return err
	}
	if ok, err := printStructured(o.Streams.Out, so.output, report); ok {
		return err
	}
	now := o.Now()
	var sums, notes, w strings.Builder
	printSummaries(&sums, &notes, report.SidecarSets)
	if err := tabulate(o.Streams.Out, sums.String()); err != nil {
		return err
	}
	if _, err := io.WriteString(o.Streams.Out, notes.String()+"\n"); err != nil {
		return err
	}
	if so.by == "workload" {
		printWorkloads(&w, report.Pods)
		return tabulate(o.Streams.Out, w.String())
	}
	w.WriteString("SIDECARSET\tNAMESPACE\tPOD\tREVISION\tSTATE\tAGE\tREASON\n")
	for _, p := range report.Pods {
		printPod(&w, p, now)
	}
	if err := tabulate(o.Streams.Out, w.String()); err != nil {
		return err
	}
	if !so.watch {
		return nil
	}
	last := map[string]PodStatus{}
	for _, p := range report.Pods {
		last[p.SidecarSet+"/"+p.Namespace+"/"+p.Pod] = p
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.PollInterval):
		}
		report, err := o.report(ctx, c, name, ns)
		if err != nil {
			return err
		}
		var w strings.Builder
		for _, p := range report.Pods {
			key := p.SidecarSet + "/" + p.Namespace + "/" + p.Pod
			if old, ok := last[key]; ok && old.State == p.State && old.Reason == p.Reason && old.Revision == p.Revision {
				continue
			}
			last[key] = p
			printPod(&w, p, o.Now())
		}
		if err := tabulate(o.Streams.Out, w.String()); err != nil {
			return err
		}
	}
}

func printPod(w *strings.Builder, p PodStatus, now time.Time) {
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.SidecarSet, p.Namespace, p.Pod, orNone(p.Revision), p.State,
		age(now, p.Since), orNone(p.Reason))
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// printSummaries writes the sets' table to w and their conditions' messages to notes.
func printSummaries(w, notes *strings.Builder, sets []SetSummary) {
	fmt.Fprintln(w, "SIDECARSET\tMATCHED\tUPDATED\tREADY\tREVISION\tREADY-CONDITION\tPROGRESSING\tDEGRADED")
	for _, s := range sets {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Name, s.Matched, s.Updated, s.Ready, orNone(s.UpdateRevision),
			conditionColumn(s.Conditions, sidecarsv1alpha1.ConditionReady), conditionColumn(s.Conditions, sidecarsv1alpha1.ConditionProgressing),
			conditionColumn(s.Conditions, sidecarsv1alpha1.ConditionDegraded))
	}
	for _, s := range sets {
		if s.Error != "" {
			fmt.Fprintf(notes, "SidecarSet %s: %s\n", s.Name, s.Error)
		}
		for _, t := range []string{sidecarsv1alpha1.ConditionProgressing, sidecarsv1alpha1.ConditionDegraded} {
			c := meta.FindStatusCondition(s.Conditions, t)
			if c != nil && c.Message != "" && (t != sidecarsv1alpha1.ConditionDegraded || c.Status == metav1.ConditionTrue) {
				fmt.Fprintf(notes, "%s %s: %s\n", s.Name, t, c.Message)
			}
		}
	}
}

func conditionColumn(conds []metav1.Condition, t string) string {
	c := meta.FindStatusCondition(conds, t)
	if c == nil {
		return "<unknown>"
	}
	return string(c.Status) + "/" + c.Reason
}

// workloadCounts counts one workload's pods by state.
type workloadCounts struct {
	set, ns, workload string
	pods              int
	states            map[string]int
}

func printWorkloads(w *strings.Builder, pods []PodStatus) {
	var order []string
	byKey := map[string]*workloadCounts{}
	for _, p := range pods {
		wl := p.Workload
		if wl == "" {
			wl = "Pod/" + p.Pod
		}
		key := p.SidecarSet + "\x00" + p.Namespace + "\x00" + wl
		c, ok := byKey[key]
		if !ok {
			c = &workloadCounts{set: p.SidecarSet, ns: p.Namespace, workload: wl, states: map[string]int{}}
			byKey[key] = c
			order = append(order, key)
		}
		c.pods++
		c.states[p.State]++
	}
	fmt.Fprintln(w, "SIDECARSET\tNAMESPACE\tWORKLOAD\tPODS\tUPDATED\tPENDING\tUPGRADING\tFAILED\tNOT-UPGRADABLE\tMISSING")
	for _, key := range order {
		c := byKey[key]
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", c.set, c.ns, c.workload, c.pods, c.states[StateUpdated],
			c.states[StatePending], c.states[StateDraining]+c.states[StateSwapping], c.states[StateFailed],
			c.states[StateNotUpgradable], c.states[StateMissing])
	}
}

// report reads the sets (one, or all) and the pods they select in ns ("" for all).
func (o *Options) report(ctx context.Context, c client.Reader, name, ns string) (*Report, error) {
	var sets []sidecarsv1alpha1.SidecarSet
	if name != "" {
		set := &sidecarsv1alpha1.SidecarSet{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, set); err != nil {
			return nil, err
		}
		sets = append(sets, *set)
	} else {
		list := &sidecarsv1alpha1.SidecarSetList{}
		if err := c.List(ctx, list); err != nil {
			return nil, err
		}
		sets = list.Items
	}
	slices.SortFunc(sets, func(a, b sidecarsv1alpha1.SidecarSet) int { return strings.Compare(a.Name, b.Name) })
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	namespaces := &metav1.PartialObjectMetadataList{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := c.List(ctx, namespaces); err != nil {
		return nil, err
	}
	nsByName := map[string]*metav1.PartialObjectMetadata{}
	for i := range namespaces.Items {
		nsByName[namespaces.Items[i].Name] = &namespaces.Items[i]
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	wl := &workloads{c: c, ctx: ctx, rs: map[string]string{}}
	ev := &namespaceEvents{c: c, ctx: ctx, byNS: map[string][]corev1.Event{}}
	report := &Report{SidecarSets: []SetSummary{}, Pods: []PodStatus{}}
	for i := range sets {
		set := &sets[i]
		st := set.Status
		sum := SetSummary{Name: set.Name, Matched: st.MatchedPods, Updated: st.UpdatedPods, Ready: st.ReadyPods,
			NotUpgradable: st.NotUpgradablePods, Missing: st.MissingPods, UpdateRevision: st.UpdateRevision, Conditions: st.Conditions}
		src, err := target(ctx, c, o.OperatorNamespace, set)
		if err != nil {
			sum.Error = err.Error()
			report.SidecarSets = append(report.SidecarSets, sum)
			continue
		}
		sum.Target = src.Revision
		report.SidecarSets = append(report.SidecarSets, sum)
		sel, err := selected(set, pods.Items, nsByName, o.OperatorNamespace)
		if err != nil {
			return nil, err
		}
		for _, pod := range sel {
			ps := podStatus(set, src, pod, ev.of(pod.Namespace))
			ps.Workload = wl.of(pod)
			report.Pods = append(report.Pods, ps)
		}
	}
	return report, nil
}

// humanDuration is kubectl's AGE.
func humanDuration(d time.Duration) string { return duration.HumanDuration(d) }

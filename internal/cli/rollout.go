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
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

func newRolloutCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND SIDECARSET",
		Short: "Follow and drive a SidecarSet's rollout, as kubectl rollout does a Deployment's",
		Example: `  kubectl outrigger rollout status proxy
  kubectl outrigger rollout pause proxy
  kubectl outrigger rollout resume proxy
  kubectl outrigger rollout history proxy
  kubectl outrigger rollout undo proxy --to-revision 2`,
	}
	cmd.AddCommand(newRolloutStatusCommand(o), newRolloutPauseCommand(o, true), newRolloutPauseCommand(o, false),
		newRolloutUndoCommand(o), newRolloutHistoryCommand(o))
	return cmd
}

func newRolloutStatusCommand(o *Options) *cobra.Command {
	watch := true
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status SIDECARSET",
		Short: "Wait until the rollout finishes; fail if it is degraded",
		Long: `Wait until every pod the SidecarSet selects runs its target revision and is ready.

Exits 0 when the rollout is complete, 1 when it cannot complete without a change:
Degraded (an upgrade failed, pods cannot be updated in place or were never injected)
or Progressing=False/ProgressDeadlineExceeded. The error names the failed pods and what
the kubelet says of them.`,
		Example: `  # Wait for the rollout, at most 10 minutes
  kubectl outrigger rollout status proxy --timeout 10m

  # Where it is now, without waiting
  kubectl outrigger rollout status proxy --watch=false`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRolloutStatus(cmd.Context(), o, args[0], watch, timeout)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", watch, "Wait until the rollout finishes.")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "How long to wait before giving up (0: forever).")
	return cmd
}

// rolloutVerdict is what a set's status says of its rollout: done, failed (err), or a
// line to print while waiting.
func rolloutVerdict(set *sidecarsv1alpha1.SidecarSet) (done bool, waiting string, failed string) {
	st := set.Status
	if set.Generation > st.ObservedGeneration {
		return false, fmt.Sprintf("Waiting for SidecarSet %q spec update to be observed...", set.Name), ""
	}
	conds := st.Conditions
	// Pods never injected do not hold a rollout, and pods not upgradable in place are
	// evicted by it with onImmutableChange Evict: neither fails it.
	evicting := set.Spec.UpdateStrategy.EffectiveOnImmutableChange() == sidecarsv1alpha1.ImmutableChangeEvict
	if c := meta.FindStatusCondition(conds, sidecarsv1alpha1.ConditionDegraded); c != nil && c.Status == metav1.ConditionTrue &&
		c.Reason != sidecarsv1alpha1.ReasonPodsMissing && (c.Reason != sidecarsv1alpha1.ReasonPodsNotUpgradable || !evicting) {
		return false, "", fmt.Sprintf("Degraded=True/%s: %s", c.Reason, c.Message)
	}
	if c := meta.FindStatusCondition(conds, sidecarsv1alpha1.ConditionProgressing); c != nil && c.Status == metav1.ConditionFalse &&
		c.Reason == sidecarsv1alpha1.ReasonProgressDeadlineExceeded {
		return false, "", fmt.Sprintf("Progressing=False/%s: %s", c.Reason, c.Message)
	}
	ready := meta.FindStatusCondition(conds, sidecarsv1alpha1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue && st.UpdatedPods == st.MatchedPods {
		return true, "", ""
	}
	injected := st.MatchedPods - st.MissingPods
	switch {
	case st.UpdatedPods < injected:
		waiting = fmt.Sprintf("Waiting for SidecarSet %q rollout to finish: %d of %d pods updated...", set.Name, st.UpdatedPods, injected)
	case st.UpdatedReadyPods < st.MatchedPods:
		waiting = fmt.Sprintf("Waiting for SidecarSet %q rollout to finish: %d of %d updated pods are ready...",
			set.Name, st.UpdatedReadyPods, st.MatchedPods)
	default:
		waiting = fmt.Sprintf("Waiting for SidecarSet %q rollout to finish...", set.Name)
	}
	if p := meta.FindStatusCondition(conds, sidecarsv1alpha1.ConditionProgressing); p != nil && p.Status == metav1.ConditionFalse &&
		p.Reason != sidecarsv1alpha1.ReasonRolloutComplete {
		waiting += fmt.Sprintf(" (Progressing=False/%s: %s)", p.Reason, p.Message)
	}
	if ready != nil && ready.Reason == sidecarsv1alpha1.ReasonPodsMissing {
		waiting += " (" + ready.Message + ")"
	}
	return false, waiting, ""
}

func runRolloutStatus(ctx context.Context, o *Options, name string, watch bool, timeout time.Duration) error {
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	last := ""
	for {
		set := &sidecarsv1alpha1.SidecarSet{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, set); err != nil {
			return err
		}
		done, waiting, failed := rolloutVerdict(set)
		switch {
		case done:
			_, err := fmt.Fprintf(o.Streams.Out, "SidecarSet %q successfully rolled out: %d pods run revision %s\n",
				name, set.Status.UpdatedPods, set.Status.UpdateRevision)
			return err
		case failed != "":
			return fmt.Errorf("SidecarSet %q rollout failed: %s%s", name, failed, o.failedPods(ctx, c, name))
		}
		if waiting != last {
			if _, err := fmt.Fprintln(o.Streams.Out, waiting); err != nil {
				return err
			}
			last = waiting
		}
		if !watch {
			return nil
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("timed out waiting for the condition")
			}
			return ctx.Err()
		case <-time.After(o.PollInterval):
		}
	}
}

// failedPods lists the set's failed and not upgradable pods with their reasons.
func (o *Options) failedPods(ctx context.Context, c client.Reader, name string) string {
	report, err := o.report(ctx, c, name, "")
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range report.Pods {
		if p.State == StateFailed || p.State == StateNotUpgradable {
			fmt.Fprintf(&b, "\n  pod %s/%s %s: %s", p.Namespace, p.Pod, p.State, p.Reason)
		}
	}
	return b.String()
}

func newRolloutPauseCommand(o *Options, pause bool) *cobra.Command {
	verb, short := "resume", "Resume a paused rollout"
	if pause {
		verb, short = "pause", "Pause the rollout: no more pods start their in-place upgrade (updateStrategy.paused)"
	}
	return &cobra.Command{
		Use:     verb + " SIDECARSET",
		Short:   short,
		Example: "  kubectl outrigger rollout " + verb + " proxy",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.NewClient()
			if err != nil {
				return err
			}
			set := &sidecarsv1alpha1.SidecarSet{}
			if err := c.Get(cmd.Context(), client.ObjectKey{Name: args[0]}, set); err != nil {
				return err
			}
			if set.Spec.UpdateStrategy.Paused == pause {
				if pause {
					return fmt.Errorf("sidecarsets.sidecars.outrigger.dev %q is already paused", args[0])
				}
				return fmt.Errorf("sidecarsets.sidecars.outrigger.dev %q is not paused", args[0])
			}
			patch := fmt.Sprintf(`{"spec":{"updateStrategy":{"paused":%t}}}`, pause)
			if err := c.Patch(cmd.Context(), set, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				return err
			}
			word := "resumed"
			if pause {
				word = "paused"
			}
			_, err = fmt.Fprintf(o.Streams.Out, "sidecarset.sidecars.outrigger.dev/%s %s\n", args[0], word)
			return err
		},
	}
}

// history is a set's revisions, oldest first.
func (o *Options) history(ctx context.Context, c client.Reader, name string) ([]appsv1.ControllerRevision, error) {
	list := &appsv1.ControllerRevisionList{}
	if err := c.List(ctx, list, client.InNamespace(o.OperatorNamespace), client.MatchingLabels{sidecarsv1alpha1.RevisionSetLabel: name}); err != nil {
		return nil, err
	}
	revs := list.Items
	slices.SortFunc(revs, func(a, b appsv1.ControllerRevision) int {
		if a.Revision != b.Revision {
			return int(a.Revision - b.Revision)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return revs, nil
}

func newRolloutHistoryCommand(o *Options) *cobra.Command {
	var number int64
	var output string
	cmd := &cobra.Command{
		Use:   "history SIDECARSET",
		Short: "List the SidecarSet's revisions and what each changed",
		Example: `  kubectl outrigger rollout history proxy

  # The spec revision 2 injects
  kubectl outrigger rollout history proxy --revision 2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), o, args[0], number, output)
		},
	}
	cmd.Flags().Int64Var(&number, "revision", 0, "Print the spec of this revision.")
	outputFlag(cmd, &output, "json, yaml; a table by default")
	return cmd
}

// HistoryEntry is one revision, as history prints it.
type HistoryEntry struct {
	Revision int64  `json:"revision"`
	Name     string `json:"name"`
	// Images are the sidecars' images, name=image.
	Images []string `json:"images"`
	// Change says what differs from the revision before.
	Change string `json:"change"`
	// Marks: "update" (the set's update revision), "pinned" (spec.injection.revision).
	Marks []string `json:"marks,omitempty"`
}

func runHistory(ctx context.Context, o *Options, name string, number int64, output string) error {
	switch output {
	case "", formatJSON, formatYAML:
	default:
		return unknownOutput(output, "json, yaml")
	}
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, set); err != nil {
		return err
	}
	revs, err := o.history(ctx, c, name)
	if err != nil {
		return err
	}
	if number != 0 {
		for i := range revs {
			if revs[i].Revision == number {
				spec, err := revision.SpecFromRevision(&revs[i])
				if err != nil {
					return err
				}
				if ok, err := printStructured(o.Streams.Out, output, spec); ok {
					return err
				}
				b, err := yaml.Marshal(spec)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(o.Streams.Out, "SidecarSet %q revision %d (%s):\n%s", name, number, revs[i].Name, b)
				return err
			}
		}
		return fmt.Errorf("unable to find the specified revision %d of SidecarSet %q", number, name)
	}
	var entries []HistoryEntry
	var prev *revision.Spec
	for i := range revs {
		spec, err := revision.SpecFromRevision(&revs[i])
		if err != nil {
			return err
		}
		e := HistoryEntry{Revision: revs[i].Revision, Name: revs[i].Name, Images: images(spec), Change: change(prev, spec)}
		if revs[i].Name == set.Status.UpdateRevision {
			e.Marks = append(e.Marks, "update")
		}
		if revs[i].Name == set.Spec.Injection.Revision {
			e.Marks = append(e.Marks, "pinned")
		}
		entries = append(entries, e)
		prev = &spec
	}
	if ok, err := printStructured(o.Streams.Out, output, entries); ok {
		return err
	}
	var w strings.Builder
	fmt.Fprintf(&w, "sidecarset.sidecars.outrigger.dev/%s\n", name)
	fmt.Fprintln(&w, "REVISION\tNAME\tSTATUS\tIMAGES\tCHANGE")
	for _, e := range entries {
		fmt.Fprintf(&w, "%d\t%s\t%s\t%s\t%s\n", e.Revision, e.Name, orNone(strings.Join(e.Marks, ",")), strings.Join(e.Images, ","), e.Change)
	}
	return tabulate(o.Streams.Out, w.String())
}

func images(spec revision.Spec) []string {
	out := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

// change says what spec changes from prev (nil for the first revision).
func change(prev *revision.Spec, spec revision.Spec) string {
	if prev == nil {
		return "<initial>"
	}
	var parts []string
	old := map[string]sidecarsv1alpha1.SidecarContainer{}
	for _, c := range prev.Containers {
		old[c.Name] = c
	}
	seen := map[string]bool{}
	for _, c := range spec.Containers {
		seen[c.Name] = true
		o, ok := old[c.Name]
		switch {
		case !ok:
			parts = append(parts, "added "+c.Name)
		case o.Image != c.Image:
			parts = append(parts, fmt.Sprintf("%s image %s -> %s", c.Name, o.Image, c.Image))
		}
		if ok && (!jsonEqual(o.Resources, c.Resources) || !jsonEqual(o.ResourcesPolicy, c.ResourcesPolicy)) {
			parts = append(parts, c.Name+" resources")
		}
	}
	for _, c := range prev.Containers {
		if !seen[c.Name] {
			parts = append(parts, "removed "+c.Name)
		}
	}
	if revision.ImageFreeHash(*prev) != revision.ImageFreeHash(spec) && len(parts) == 0 {
		parts = append(parts, "other fields (new pods only)")
	} else if revision.ImageFreeHash(*prev) != revision.ImageFreeHash(spec) {
		parts = append(parts, "and other fields (new pods only)")
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, "; ")
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func newRolloutUndoCommand(o *Options) *cobra.Command {
	var to int64
	var pin bool
	cmd := &cobra.Command{
		Use:   "undo SIDECARSET",
		Short: "Roll the SidecarSet back to an earlier revision",
		Long: `Roll the SidecarSet back to an earlier revision: the one its last complete rollout
reached (status.currentRevision), else the one numbered before its update revision, or
--to-revision. Running pods move back in place as in any rollout.

By default the revision's spec is written back into the SidecarSet (containers, init
containers, volumes, pull secrets, pod metadata), as kubectl rollout undo does for a
Deployment. With --pin the spec is left as it is and spec.injection.revision pins the
revision instead: new pods and the rollout use it until the pin is removed (what a
SidecarSet managed by GitOps needs, since its spec is rewritten from Git).`,
		Example: `  # Back to what the pods ran before the current rollout
  kubectl outrigger rollout undo proxy

  # Hold every pod on revision 2, leaving the spec as Git has it
  kubectl outrigger rollout undo proxy --to-revision 2 --pin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUndo(cmd.Context(), o, args[0], to, pin)
		},
	}
	cmd.Flags().Int64Var(&to, "to-revision", 0,
		"The revision to roll back to (0: the one the last complete rollout reached, else the one numbered before the update revision).")
	cmd.Flags().BoolVar(&pin, "pin", false, "Pin spec.injection.revision instead of rewriting the spec.")
	return cmd
}

func runUndo(ctx context.Context, o *Options, name string, to int64, pin bool) error {
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	set := &sidecarsv1alpha1.SidecarSet{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, set); err != nil {
		return err
	}
	revs, err := o.history(ctx, c, name)
	if err != nil {
		return err
	}
	src, err := target(ctx, c, o.OperatorNamespace, set)
	if err != nil {
		return err
	}
	current := slices.IndexFunc(revs, func(cr appsv1.ControllerRevision) bool { return cr.Name == src.Revision })
	var chosen *appsv1.ControllerRevision
	if to == 0 {
		// Back to what the pods ran last: the revision the last complete rollout
		// reached (status.currentRevision); else the one numbered before the target.
		// Revision numbers say in which order specs were first seen, not which one
		// was applied last: a spec reverted to keeps its number.
		last := slices.IndexFunc(revs, func(cr appsv1.ControllerRevision) bool { return cr.Name == set.Status.CurrentRevision })
		switch {
		case last >= 0 && revs[last].Name != src.Revision:
			chosen = &revs[last]
		case current > 0:
			chosen = &revs[current-1]
		default:
			return fmt.Errorf("no revision of SidecarSet %q to roll back to from %s", name, src.Revision)
		}
	} else {
		i := slices.IndexFunc(revs, func(cr appsv1.ControllerRevision) bool { return cr.Revision == to })
		if i < 0 {
			return fmt.Errorf("unable to find the specified revision %d of SidecarSet %q", to, name)
		}
		chosen = &revs[i]
	}
	spec, err := revision.SpecFromRevision(chosen)
	if err != nil {
		return err
	}
	if chosen.Name == src.Revision || !pin && set.Spec.Injection.Revision == "" && revision.Hash(revision.SpecOf(set)) == revision.Hash(spec) {
		_, err := fmt.Fprintf(o.Streams.Out, "sidecarset.sidecars.outrigger.dev/%s skipped rollback (current template already matches revision %d)\n",
			name, chosen.Revision)
		return err
	}
	var patch map[string]any
	if pin {
		patch = map[string]any{fieldSpec: map[string]any{"injection": map[string]any{"revision": chosen.Name}}}
	} else {
		patch = map[string]any{fieldSpec: map[string]any{
			"containers":       spec.Containers,
			"initContainers":   nullIfEmpty(len(spec.InitContainers), spec.InitContainers),
			"volumes":          nullIfEmpty(len(spec.Volumes), spec.Volumes),
			"imagePullSecrets": nullIfEmpty(len(spec.ImagePullSecrets), spec.ImagePullSecrets),
			"podMetadata":      nullIfEmpty(boolInt(spec.PodMetadata != nil), spec.PodMetadata),
			"injection":        map[string]any{"revision": nil},
		}}
	}
	// The set as read, or a conflict: an undo computed from a stale read is refused.
	patch["metadata"] = map[string]any{"resourceVersion": set.ResourceVersion}
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, set, client.RawPatch(types.MergePatchType, raw)); err != nil {
		return err
	}
	how := "rolled back"
	if pin {
		how = "pinned"
	}
	_, err = fmt.Fprintf(o.Streams.Out, "sidecarset.sidecars.outrigger.dev/%s %s to revision %d (%s)\n", name, how, chosen.Revision, chosen.Name)
	return err
}

func nullIfEmpty(n int, v any) any {
	if n == 0 {
		return nil
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

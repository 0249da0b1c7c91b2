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
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// DefaultOperatorNamespace is where config/default installs the operator, and so where
// the SidecarSets' ControllerRevisions live.
const DefaultOperatorNamespace = "outrigger-system"

// Words the commands share.
const (
	formatJSON    = "json"
	formatYAML    = "yaml"
	none          = "<none>"
	kindPod       = "Pod"
	fieldSpec     = "spec"
	fieldTemplate = "template"
)

// Scheme knows the types the plugin reads: Kubernetes' and SidecarSets.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(sidecarsv1alpha1.AddToScheme(Scheme))
}

// Options are what every command shares.
type Options struct {
	Streams genericiooptions.IOStreams
	// Flags are kubectl's: kubeconfig, context, namespace, ...
	Flags *genericclioptions.ConfigFlags
	// OperatorNamespace holds the SidecarSets' ControllerRevisions.
	OperatorNamespace string
	// NewClient connects to the cluster; tests replace it with a fake.
	NewClient func() (client.Client, error)
	// Now is the clock; tests fix it.
	Now func() time.Time
	// PollInterval is how often rollout status and status --watch read the cluster again.
	PollInterval time.Duration
}

// NewOptions are the options of a run on the real cluster.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	o := &Options{
		Streams:           streams,
		Flags:             genericclioptions.NewConfigFlags(true),
		OperatorNamespace: DefaultOperatorNamespace,
		Now:               time.Now,
		PollInterval:      2 * time.Second,
	}
	o.NewClient = func() (client.Client, error) {
		cfg, err := o.Flags.ToRESTConfig()
		if err != nil {
			return nil, err
		}
		return client.New(cfg, client.Options{Scheme: Scheme})
	}
	return o
}

// NewCommand is kubectl-outrigger.
func NewCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-outrigger",
		Short: "Preview injections, explain them, and follow and drive SidecarSet rollouts",
		Long: `kubectl outrigger works with Outrigger's SidecarSets beside kubectl:

  inject    print manifests as the webhook would inject them (no cluster write)
  why       for every SidecarSet, whether it injects a pod and why not
  status    one line per pod (or workload): revision and rollout state
  rollout   status, pause, resume, undo and history of a SidecarSet's rollout`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl outrigger",
		},
	}
	cmd.SetIn(o.Streams.In)
	cmd.SetOut(o.Streams.Out)
	cmd.SetErr(o.Streams.ErrOut)
	o.Flags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&o.OperatorNamespace, "operator-namespace", o.OperatorNamespace,
		"The namespace Outrigger runs in, which holds the SidecarSets' revisions.")
	cmd.AddCommand(newInjectCommand(o), newWhyCommand(o), newStatusCommand(o), newRolloutCommand(o))
	return cmd
}

// Execute runs the plugin with args and returns its exit code; errors go to stderr as
// kubectl prints them.
func Execute(ctx context.Context, o *Options, args []string) int {
	cmd := NewCommand(o)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		_, _ = fmt.Fprintf(o.Streams.ErrOut, "error: %v\n", err)
		return 1
	}
	return 0
}

// namespace is the namespace of the kubeconfig context, or --namespace.
func (o *Options) namespace() (string, error) {
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// allNamespacesFlag adds -A.
func allNamespacesFlag(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVarP(v, "all-namespaces", "A", false, "Across all namespaces (the default without --namespace).")
}

// outputFlag adds -o with the formats given (the first is the default, "" a table).
func outputFlag(cmd *cobra.Command, v *string, formats string) {
	cmd.Flags().StringVarP(v, "output", "o", "", "Output format: "+formats+".")
}

// printStructured prints v as JSON or YAML; ok is false for another format.
func printStructured(w io.Writer, format string, v any) (ok bool, err error) {
	switch format {
	case formatJSON:
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintln(w, string(b))
		return true, err
	case formatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = w.Write(b)
		return true, err
	}
	return false, nil
}

// tabulate prints text, whose cells are separated by tabs, in aligned columns as
// kubectl prints its tables.
func tabulate(out io.Writer, text string) error {
	w := printers.GetNewTabWriter(out)
	if _, err := io.WriteString(w, text); err != nil {
		return err
	}
	return w.Flush()
}

// unknownOutput is kubectl's error for an -o it does not print.
func unknownOutput(format string, allowed string) error {
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: %s", format, allowed)
}

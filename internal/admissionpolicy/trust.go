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
	"fmt"
	"strings"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// maxTrustedContainers bounds the sets whose record entries the policy can trust: it
// checks every split of the set's containers into injected and overridden, 2^n texts.
const maxTrustedContainers = 4

// The webhook trusts a record entry of the request that is exactly what injecting the set
// produced (inject.trustedRecords): the set's revision and hashes, each container named
// once as injected or overridden, each injected one where its mode puts it with the
// set's image, command and arguments, each overridden one in the pod. Such a set is not
// injected again, its entry is kept, and its containers are not app containers.
//
// CEL cannot parse the record. The policy looks for the exact text InjectionRecords.String
// writes for each possible split instead. The search is sound: inside a JSON string every
// quote is escaped, so the text `"name":{"revision":"` cannot come from a string value.
// An entry with `resized` (the rollout resized the pod in place), one of a set with more
// than maxTrustedContainers containers, or a record that is not valid JSON around the
// exact text is trusted differently than by the webhook: see docs/design/admission-policy.md.

// trustVars defines, per set, the variables saying whether its record entry is trusted
// and whether the policy injects it, and then app: the pod's containers no trusted entry
// says were injected.
func (c *compiler) trustVars() {
	var trustedNames []string
	for i := range c.sets {
		s := &c.sets[i]
		s.trusted, s.inject = s.match+"t", s.match+"x"
		// The entry's constant head, shared with the record's formatting.
		c.variable(s.head(), quote(fmt.Sprintf(`"%s":{"revision":"%s","hash":"%s","imageFreeHash":"%s","containers":`,
			s.src.Set.Name, s.src.Revision, s.src.Hash, s.src.ImageFreeHash)))
		var variants []string
		if n := len(names(s.src)); n <= maxTrustedContainers {
			c.variable(s.trusted+"h", fmt.Sprintf("variables.%s && variables.record0.contains(variables.%s)", s.match, s.head()))
			for k := range names(s.src) {
				c.variable(fmt.Sprintf("%sp%d", s.trusted, k), c.injectedHere(*s, k))
			}
			for mask := range 1 << n {
				// A Required set's entry overrides nothing: only the one with all injected.
				if s.src.Set.Spec.Injection.IsRequired() && mask != 1<<n-1 {
					continue
				}
				variants = append(variants, c.variant(*s, mask))
			}
		}
		c.variable(s.trusted+"v", list(variants))
		c.variable(s.trusted, fmt.Sprintf("variables.%s && size(variables.%sv) > 0", s.match, s.trusted))
		c.variable(s.inject, fmt.Sprintf("variables.%s && !variables.%s", s.match, s.trusted))
		trustedNames = append(trustedNames, fmt.Sprintf("dyn(variables.%s ? variables.%sv[0].names : [])", s.trusted, s.trusted))
	}
	names := c.listVariable("trustedNames", trustedNames)
	// The app containers resourcesPolicy, shareVolumes and transferEnv read.
	c.variable("app", fmt.Sprintf("object.spec.containers.filter(c, !(c.name in %s.flatten()))", names))
}

// head names the variable holding the set's record entry up to its containers.
func (s compiledSet) head() string { return s.match + "h" }

// trustedText is CEL for the text of the set's trusted entry, when it is trusted.
func trustedText(s compiledSet) string {
	return fmt.Sprintf("variables.%s ? variables.%sv[0].text : ''", s.trusted, s.trusted)
}

// injectedHere is CEL saying that the k-th container of s is in the pod where injecting
// puts it, with the set's image, command and arguments.
func (c *compiler) injectedHere(s compiledSet, k int) string {
	initContainers := len(s.src.Spec.InitContainers)
	if k < initContainers {
		ic := s.src.Spec.InitContainers[k]
		return hasContainer("object.spec.?initContainers.orValue([])", ic.Name, ic.Image, ic.Command, ic.Args, false)
	}
	sc := s.src.Spec.Containers[k-initContainers]
	if sc.EffectiveMode() == sidecarsv1alpha1.SidecarModeNative {
		return hasContainer("object.spec.?initContainers.orValue([])", sc.Name, sc.Image, sc.Command, sc.Args, true)
	}
	return hasContainer("object.spec.containers", sc.Name, sc.Image, sc.Command, sc.Args, false)
}

// variant is a CEL optional: the entry's text and injected names when the request's
// record holds the entry that injecting s with the containers of mask (bit k: the k-th
// container injected, else overridden) writes, and the pod bears it out.
func (c *compiler) variant(s compiledSet, mask int) string {
	var injected, overridden []string
	conds := []string{"variables." + s.trusted + "h"}
	for k, name := range names(s.src) {
		if mask&(1<<k) == 0 {
			overridden = append(overridden, name)
			conds = append(conds, fmt.Sprintf("%s in variables.used", quote(name)))
			continue
		}
		injected = append(injected, name)
		conds = append(conds, fmt.Sprintf("variables.%sp%d", s.trusted, k))
	}
	tail := jsonNames(injected)
	if len(overridden) > 0 {
		tail += `,"overridden":` + jsonNames(overridden)
	}
	tail += "}"
	text := fmt.Sprintf("variables.%s + %s", s.head(), quote(tail))
	// The entry's closing brace is followed by the next entry or the record's end.
	conds = append(conds, fmt.Sprintf("(variables.record0.contains(%s + ',') || variables.record0.contains(%s + '}'))", text, text))
	return fmt.Sprintf("?(%s ? optional.of({'text': dyn(%s), 'names': dyn(%s)}) : optional.none())",
		strings.Join(conds, " && "), text, stringList(injected))
}

// jsonNames is names as InjectionRecords.String writes them: null when empty.
func jsonNames(names []string) string {
	if len(names) == 0 {
		return celNull
	}
	return `["` + strings.Join(names, `","`) + `"]`
}

// hasContainer is CEL for inject.hasContainer: list holds name with image, command and
// arguments, and restartPolicy Always for a native sidecar, none otherwise.
func hasContainer(list, name, image string, command, args []string, native bool) string {
	restart := "!has(c.restartPolicy)"
	if native {
		restart = "c.?restartPolicy.orValue('') == 'Always'"
	}
	return fmt.Sprintf("%s.exists(c, c.name == %s && c.?image.orValue('') == %s && c.?command.orValue([]) == %s && c.?args.orValue([]) == %s && %s)",
		list, quote(name), quote(image), stringList(command), stringList(args), restart)
}

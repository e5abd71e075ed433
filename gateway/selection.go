package gateway

import (
	"github.com/understudy/understudy/config"
)

// order returns the tier's targets in the order to try them: the first is
// chosen by the route's policy, the others follow as fallbacks inside the tier.
func order(tier []routeTarget, policy string, rnd func() float64) []routeTarget {
	out := make([]routeTarget, len(tier))
	copy(out, tier)
	if len(out) < 2 {
		return out
	}
	switch policy {
	case config.SelectLatency:
		// Power of two choices: pick two at random, keep the better first.
		i := int(rnd() * float64(len(out)))
		j := int(rnd() * float64(len(out)-1))
		if j >= i {
			j++
		}
		if out[j].latencyScore() < out[i].latencyScore() {
			i = j
		}
		out[0], out[i] = out[i], out[0]
		// Rest: ascending score.
		rest := out[1:]
		for a := 1; a < len(rest); a++ {
			for b := a; b > 0 && rest[b].latencyScore() < rest[b-1].latencyScore(); b-- {
				rest[b], rest[b-1] = rest[b-1], rest[b]
			}
		}
	default:
		// Weighted random order without replacement.
		for k := 0; k < len(out)-1; k++ {
			total := 0
			for _, t := range out[k:] {
				total += t.weight
			}
			x := rnd() * float64(total)
			for m := k; m < len(out); m++ {
				x -= float64(out[m].weight)
				if x < 0 {
					out[k], out[m] = out[m], out[k]
					break
				}
			}
		}
	}
	return out
}

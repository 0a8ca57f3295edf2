package config

import (
	"fmt"
	"strings"
)

// didYouMean returns ` (did you mean "x"?)` for the candidate closest to got,
// or "" when none is close enough to be a plausible typo.
func didYouMean(got string, candidates []string) string {
	best, bestDist := "", -1
	g := strings.ToLower(got)
	for _, c := range candidates {
		d := editDistance(g, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > typoBudget(got, best) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// typoBudget is how many edits still count as a typo: one for short words,
// up to three for long ones, never half the word.
func typoBudget(a, b string) int {
	n := min(len([]rune(a)), len([]rune(b)))
	switch {
	case n <= 2:
		return 0
	case n <= 4:
		return 1
	case n <= 8:
		return 2
	default:
		return 3
	}
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent runes each cost 1,
// so "dset" is one edit from "dest". Inputs are bounded by the caller (keys of
// a YAML document), but long strings are cut to keep this O(n·m) cheap.
func editDistance(a, b string) int {
	const limit = 64
	ra, rb := []rune(a), []rune(b)
	if len(ra) > limit {
		ra = ra[:limit]
	}
	if len(rb) > limit {
		rb = rb[:limit]
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

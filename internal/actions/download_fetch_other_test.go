//go:build !linux

package actions

// symlinkSwapCases needs utimensat on a link; see the Linux version.
func symlinkSwapCases() []changeCase { return nil }

//go:build !linux

package actions

import (
	"errors"
	"os"
)

var errNoOrigin = errors.New("recording a file's origin needs Linux extended attributes")

// setOrigin cannot record anything here; a flattened copy is then never
// removed on delete (its origin cannot be established).
func setOrigin(*os.File, string) error { return errNoOrigin }

// origin cannot tell anything here.
func origin(*os.File) (string, error) { return "", errNoOrigin }

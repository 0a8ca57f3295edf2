package sftpconn

// The interop fixtures, for the external tests of this directory
// (interop_find_test.go: the find lister, which imports sftpconn).
var (
	InteropServers = interopServers
	DialInterop    = dialInterop
	LocalListing   = localListing
	SameListing    = sameListing
)

// Package findlist is the find lister (a watch's `lister: find`): the
// listing of a whole tree from one GNU find run over an SSH exec session,
// one round trip where an SFTP walk costs one per directory.
//
// It owns
//   - the command (findcmd.go): find with a -printf of NUL-separated
//     fields, the root shell-quoted (ShellQuote), find's error lines
//     decoded back to errors;
//   - the parser (findparse.go): find's output decoded into the same
//     sftpconn.DirListing values Walk gives, a directory's listing emitted
//     once complete; a listing from find is decoded here;
//   - the run (findwalk.go): Walk and Probe over an sftpconn.Doer, under
//     the request deadline (Client.RunTimed), with ErrRefused (and the
//     server's own words) for a server that will not run find and
//     ErrFollow for FollowSymlinks, which find cannot do safely.
package findlist

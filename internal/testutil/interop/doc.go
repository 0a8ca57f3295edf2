// Package interop starts SFTP servers that share no code with sftpwatchd
// or OpenSSH's sshd — ProFTPD with mod_sftp, and Dropbear serving OpenSSH's
// sftp-server — on 127.0.0.1 with generated keys and configuration in a
// temporary directory, for tests that run the same checks against every
// server. A server that is not installed (or a machine where the tests do
// not run as root: both log in the unprivileged sshdtest.TestUser with its
// password) skips the test loudly; with CI set that is a failure.
package interop

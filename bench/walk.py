#!/usr/bin/env python3
"""pysftp-style walk over paramiko: one listdir_attr at a time, depth first.

This is what pysftp.Connection.walktree does (pysftp is a thin layer over
paramiko), written directly over paramiko since pysftp is not packaged in
Debian. It uses listdir_attr (one READDIR stream per directory, attributes
included), which is kinder than pysftp 0.2.9's walktree, which calls stat()
on every entry it lists.

usage: walk.py HOST PORT USER KEYFILE KNOWN_HOSTS ROOT
prints the number of entries seen (files, dirs, others) on stdout.
"""
import posixpath
import socket
import sys
from stat import S_ISDIR

import paramiko


def main():
    host, port, user, keyfile, known_hosts, root = sys.argv[1:7]
    sock = socket.create_connection((host, int(port)))
    t = paramiko.Transport(sock)
    t.start_client()
    keys = paramiko.HostKeys(known_hosts)
    want = keys.lookup("[%s]:%s" % (host, port))
    got = t.get_remote_server_key()
    if want is None or want.get(got.get_name()) != got:
        sys.exit("host key mismatch")
    t.auth_publickey(user, paramiko.Ed25519Key.from_private_key_file(keyfile))
    sftp = paramiko.SFTPClient.from_transport(t)
    count = 0

    def walk(path):
        nonlocal count
        for a in sftp.listdir_attr(path):
            count += 1
            p = posixpath.join(path, a.filename)
            if S_ISDIR(a.st_mode):
                walk(p)

    walk(root)
    print(count)
    sftp.close()
    t.close()


if __name__ == "__main__":
    main()

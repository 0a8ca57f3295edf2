package main

import "time"

func benchDownloads(e *env, r *report, o options, tgs []target) error { _ = time.Now; return nil }

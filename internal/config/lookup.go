package config

// Watch returns the watch called name.
func (c *Config) Watch(name string) (*Watch, bool) {
	for i := range c.Watches {
		if c.Watches[i].Name == name {
			return &c.Watches[i], true
		}
	}
	return nil, false
}

// HostFor returns the host w refers to. In a validated Config it always
// exists; otherwise the zero Host is returned.
func (c *Config) HostFor(w *Watch) Host {
	if c == nil || w == nil {
		return Host{}
	}
	return c.Hosts[w.Host]
}

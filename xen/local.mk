# xen

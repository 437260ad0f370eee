# src/vhost-user

# src/vsock

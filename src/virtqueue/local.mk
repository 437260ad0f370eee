# src/virtqueue

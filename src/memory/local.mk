# src/memory

"""Training on real data: datasets (digits, CIFAR-10, image folders), the paper's SGD
schedule, a deterministic resumable trainer, baselines, and the accuracy study."""

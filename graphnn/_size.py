"""``graphnn.Size``: a tuple subclass printed as PyTorch prints ``torch.Size``."""


class Size(tuple):
    def __repr__(self) -> str:
        return f"graphnn.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

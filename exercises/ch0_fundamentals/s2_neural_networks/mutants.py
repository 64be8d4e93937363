"""Plausible wrong answers for section 0.2; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import math
from pathlib import Path

import torch as t
from torch import nn
from torch.nn import functional as F

from exercises.ch0_fundamentals.s2_neural_networks import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("ReLU", "clamps in place, editing the caller's tensor", kind=SIDE_EFFECT)
class ReLUInPlace(nn.Module):
    def forward(self, x):
        return x.clamp_(min=0)


@mutant("Linear", "initialises with a standard normal (no 1/sqrt(fan_in) scale)")
class LinearRandn(ref.Linear):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias)
        self.weight = nn.Parameter(t.randn(out_features, in_features))


@mutant("Linear", "forgets the bias in forward")
class LinearNoBias(ref.Linear):
    def forward(self, x):
        return x @ self.weight.T


@mutant("Linear", "samples the weights from (0, bound) only")
class LinearPositive(ref.Linear):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias)
        self.weight = nn.Parameter(t.rand(out_features, in_features) / math.sqrt(in_features))


@mutant("Flatten", "treats end_dim as exclusive")
class FlattenExclusive(ref.Flatten):
    def forward(self, x):
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        if end <= start:
            return x
        return x.reshape(*x.shape[:start], math.prod(x.shape[start:end]), *x.shape[end:])


@mutant("pad2d", "pads only the bottom and right")
def pad_one_side(x, padding, value=0.0):
    return F.pad(x, (0, 2 * padding, 0, 2 * padding), value=value)


@mutant("conv2d", "ignores the stride")
def conv_no_stride(x, weight, stride=1, padding=0):
    return ref.conv2d(x, weight, 1, padding)


@mutant("conv2d", "flips the kernel (a true convolution)")
def conv_flipped(x, weight, stride=1, padding=0):
    return ref.conv2d(x, weight.flip(-1, -2), stride, padding)


@mutant("conv2d", "walks each window column-first (the kernel is transposed)")
def conv_window_transposed(x, weight, stride=1, padding=0):
    x = ref.pad2d(x, padding)
    b, c, h, w = x.shape
    _, _, kh, kw = weight.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    sb, sc, sh, sw = x.stride()
    windows = x.as_strided((b, c, oh, ow, kh, kw), (sb, sc, sh * stride, sw * stride, sw, sh))
    return t.einsum("bcijkl,ockl->boij", windows, weight)


@mutant("maxpool2d", "pads with zeros instead of -inf", kind=HIDDEN_TERM)
def pool_zero_pad(x, kernel_size, stride=None, padding=0):
    return ref.maxpool2d(F.pad(x, (padding,) * 4), kernel_size, stride, 0)


@mutant("maxpool2d", "uses stride 1 when no stride is given", kind=DOMAIN_CORNER)
def pool_stride_one(x, kernel_size, stride=None, padding=0):
    return ref.maxpool2d(x, kernel_size, stride or 1, padding)


@mutant("Conv2d", "uses fan_in = in_channels (ignores the kernel size)")
class ConvFanIn(ref.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        bound = 1 / math.sqrt(in_channels)
        self.weight = nn.Parameter((t.rand(out_channels, in_channels, kernel_size, kernel_size) * 2 - 1) * bound)


@mutant("Conv2d", "forgets the padding in forward")
class ConvNoPadding(ref.Conv2d):
    def forward(self, x):
        return ref.conv2d(x, self.weight, self.stride, 0)


@mutant("BatchNorm2d", "normalises with the unbiased variance", kind=HIDDEN_TERM)
class BNUnbiased(ref.BatchNorm2d):
    def forward(self, x):
        out = super().forward(x)
        if not self.training:
            return out
        mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True)
        return (x - mean) / t.sqrt(var + self.eps) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


@mutant("BatchNorm2d", "updates running_var with the biased variance", kind=HIDDEN_TERM)
class BNBiasedRunning(ref.BatchNorm2d):
    def forward(self, x):
        if self.training:
            old = self.running_var.clone()
            out = super().forward(x)
            with t.no_grad():
                self.running_var.copy_((1 - self.momentum) * old + self.momentum * x.var((0, 2, 3), unbiased=False))
            return out
        return super().forward(x)


@mutant("BatchNorm2d", "swaps momentum and 1 - momentum in the running update")
class BNMomentumSwapped(ref.BatchNorm2d):
    def forward(self, x):
        if self.training:
            self.momentum = 1 - self.momentum
            out = super().forward(x)
            self.momentum = 1 - self.momentum
            return out
        return super().forward(x)


@mutant("BatchNorm2d", "uses batch statistics in eval mode too", kind=DOMAIN_CORNER)
class BNAlwaysBatch(ref.BatchNorm2d):
    def forward(self, x):
        if self.training:
            return super().forward(x)
        mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True, unbiased=False)
        return (x - mean) / t.sqrt(var + self.eps) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


@mutant("BatchNorm2d", "adds epsilon outside the square root", kind=HIDDEN_TERM)
class BNEpsOutside(ref.BatchNorm2d):
    def forward(self, x):
        super().forward(x)  # updates the running statistics as usual
        if self.training:
            mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
        else:
            mean, var = self.running_mean, self.running_var
        shape = (1, -1, 1, 1)
        x_hat = (x - mean.view(shape)) / (t.sqrt(var.view(shape)) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


@mutant("Sequential", "keeps the modules in a plain list")
class SequentialList(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        self.layers = list(modules)

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x


@mutant("Sequential", "applies the modules in reverse order")
class SequentialReversed(ref.Sequential):
    def forward(self, x):
        for m in reversed(list(self._modules.values())):
            x = m(x)
        return x


@mutant("ResidualBlock", "applies the ReLU before the addition")
class BlockReluFirst(ref.ResidualBlock):
    def forward(self, x):
        return self.relu(self.left(x)) + self.right(x)


@mutant("ResidualBlock", "puts the stride on the second conv")
class BlockStrideLate(ref.ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        first, *_, second, _ = self.left._modules.values()
        first.stride, second.stride = 1, stride


@mutant("ResidualBlock", "uses a projection without BatchNorm")
class BlockProjectionNoBN(ref.ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        if self.right._modules:
            self.right = ref.Sequential(self.right._modules["0"])


@mutant("ResNet", "never downsamples (stride 1 in every block)")
class ResNetNoStride(ref.ResNet):
    def __init__(self, channels=(16, 32, 64), n_classes=10):
        super().__init__(channels, n_classes)
        for block in list(self.blocks._modules.values())[1:]:
            block.left._modules["0"].stride = 1
            block.right._modules["0"].stride = 1


@mutant("ResNet", "pools with the max instead of the mean")
class ResNetMaxPool(ref.ResNet):
    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).amax(dim=(2, 3)))


@mutant("train_epoch", "never zeroes the gradients")
def train_no_zero_grad(model, optimizer, x, y, batch_size, generator):
    model.train()
    losses = []
    for idx in ref.batches(len(x), batch_size, generator):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@mutant("train_epoch", "forgets model.train()", kind=DOMAIN_CORNER)
def train_no_train_mode(model, optimizer, x, y, batch_size, generator):
    losses = []
    for idx in ref.batches(len(x), batch_size, generator):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@mutant("train_epoch", "returns the last batch's loss")
def train_last_loss(model, optimizer, x, y, batch_size, generator):
    model.train()
    loss = t.tensor(0.0)
    for idx in ref.batches(len(x), batch_size, generator):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


@mutant("evaluate", "forgets model.eval()", kind=DOMAIN_CORNER)
def evaluate_train_mode(model, x, y, batch_size=512):
    with t.inference_mode():
        return sum(int((model(x[i]).argmax(1) == y[i]).sum()) for i in ref.batches(len(x), batch_size)) / len(x)


@mutant("evaluate", "records gradients", kind=SIDE_EFFECT)
def evaluate_with_grad(model, x, y, batch_size=512):
    model.eval()
    return sum(int((model(x[i]).argmax(1) == y[i]).sum()) for i in ref.batches(len(x), batch_size)) / len(x)


@mutant("evaluate", "returns the number correct, not the fraction")
def evaluate_count(model, x, y, batch_size=512):
    return ref.evaluate(model, x, y, batch_size) * len(x)


@mutant("save_checkpoint", "saves only the model's weights")
def save_model_only(path: Path, model, optimizer, epoch):
    t.save({"model": model.state_dict(), "optimizer": {}, "epoch": epoch}, path)


@mutant("save_checkpoint", "saves the parameters but not the buffers")
def save_parameters_only(path: Path, model, optimizer, epoch):
    params = {k: v.detach() for k, v in model.named_parameters()}
    t.save({"model": params, "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


@mutant("save_checkpoint", "pickles the module and optimiser objects")
def save_objects(path: Path, model, optimizer, epoch):
    t.save({"model": model, "optimizer": optimizer, "epoch": epoch}, path)


# Side effects: right outputs, but the caller's tensors, the module's state or the model are left wrong.


@mutant(
    "BatchNorm2d",
    "copies the running statistics in with copy_ outside no_grad (graph kept in buffers)",
    kind=SIDE_EFFECT,
)
class BNCopyWithGraph(ref.BatchNorm2d):
    def forward(self, x):
        if not self.training:
            return super().forward(x)
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
        n = x.numel() // x.shape[1]
        self.running_mean.copy_((1 - self.momentum) * self.running_mean + self.momentum * mean)
        self.running_var.copy_((1 - self.momentum) * self.running_var + self.momentum * var * n / (n - 1))
        self.num_batches_tracked += 1
        shape = (1, -1, 1, 1)
        x_hat = (x - mean.view(shape)) / t.sqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


@mutant("BatchNorm2d", "keeps the last batch's mean as an attribute, graph included", kind=SIDE_EFFECT)
class BNKeepsLastMean(ref.BatchNorm2d):
    def forward(self, x):
        if self.training:
            self.last_mean = x.mean((0, 2, 3))
        return super().forward(x)


@mutant("save_checkpoint", "switches the model to eval mode to save it, and leaves it there", kind=SIDE_EFFECT)
def save_in_eval_mode(path: Path, model, optimizer, epoch):
    model.eval()
    ref.save_checkpoint(path, model, optimizer, epoch)


# Domain corners: right on the test's one scenario, wrong on another the statement promises.


@mutant("ReLU", "computes with numpy, so no gradient flows back", kind=DOMAIN_CORNER)
class ReLUNumpy(nn.Module):
    def forward(self, x):
        return t.from_numpy(x.detach().numpy().clip(min=0))


@mutant("Linear", "contracts with einsum 'bi,oi->bo' (2-D inputs only)", kind=DOMAIN_CORNER)
class LinearTwoD(ref.Linear):
    def forward(self, x):
        out = t.einsum("bi,oi->bo", x, self.weight)
        return out + self.bias if self.bias is not None else out


@mutant("pad2d", "assumes a (b, c, h, w) input", kind=DOMAIN_CORNER)
def pad_four_d(x, padding, value=0.0):
    b, c, h, w = x.shape
    out = x.new_full((b, c, h + 2 * padding, w + 2 * padding), value)
    out[:, :, padding : padding + h, padding : padding + w] = x
    return out


@mutant("conv2d", "reads one kernel size for both dimensions (square kernels only)", kind=DOMAIN_CORNER)
def conv_square_kernel(x, weight, stride=1, padding=0):
    x = ref.pad2d(x, padding)
    b, c, h, w = x.shape
    k = weight.shape[-1]
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    sb, sc, sh, sw = x.stride()
    windows = x.as_strided((b, c, oh, ow, k, k), (sb, sc, sh * stride, sw * stride, sh, sw))
    return t.einsum("bcijkl,ockl->boij", windows, weight[..., :k, :k])


# Hidden terms: a term that inputs or a forward-only comparison would leave invisible.


@mutant("BatchNorm2d", "computes the batch statistics under no_grad (no gradient through them)", kind=HIDDEN_TERM)
class BNStatsNoGrad(ref.BatchNorm2d):
    def forward(self, x):
        if not self.training:
            return super().forward(x)
        with t.no_grad():
            mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
            n = x.numel() // x.shape[1]
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
            self.num_batches_tracked += 1
        shape = (1, -1, 1, 1)
        x_hat = (x - mean.view(shape)) / t.sqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


@mutant("BatchNorm2d", "leaves epsilon out in eval mode (running variances near 1 hide it)", kind=HIDDEN_TERM)
class BNEvalNoEps(ref.BatchNorm2d):
    def forward(self, x):
        if self.training:
            return super().forward(x)
        shape = (1, -1, 1, 1)
        x_hat = (x - self.running_mean.view(shape)) / t.sqrt(self.running_var.view(shape))
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


@mutant("BatchNorm2d", "adds epsilon to the batch variance it also stores in running_var", kind=HIDDEN_TERM)
class BNEpsInRunningVar(ref.BatchNorm2d):
    def forward(self, x):
        if not self.training:
            return super().forward(x)
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False) + self.eps
        n = x.numel() // x.shape[1]
        with t.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
            self.num_batches_tracked += 1
        shape = (1, -1, 1, 1)
        return (x - mean.view(shape)) / var.view(shape).sqrt() * self.weight.view(shape) + self.bias.view(shape)


@mutant("ResidualBlock", "projects only when the channels change, not when the stride is 2", kind=DOMAIN_CORNER)
class BlockProjectOnChannelsOnly(ref.ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        if in_channels == out_channels:
            self.right = ref.Sequential()


@mutant("ResidualBlock", "adds the shortcut of x.detach() (no gradient through the shortcut)", kind=HIDDEN_TERM)
class BlockDetachedShortcut(ref.ResidualBlock):
    def forward(self, x):
        return self.relu(self.left(x) + self.right(x.detach()))


@mutant("train_epoch", "returns the mean over examples, weighting each batch by its size", kind=HIDDEN_TERM)
def train_weighted_mean(model, optimizer, x, y, batch_size, generator):
    model.train()
    total = 0.0
    for idx in ref.batches(len(x), batch_size, generator):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(x)

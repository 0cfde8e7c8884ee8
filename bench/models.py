"""PyTorch definitions of the AdvDistill model zoo, with the parameter names AdvDistill loads.

Used by torch_reference.py (speed comparison) and by Tests/NNTests/Fixtures/make_parity_fixtures.py
(parity of logits and gradients). Layouts follow the reference repositories (kuangliu-style CIFAR ResNet,
TRADES WRN); written here from the architecture descriptions, not copied.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    """28×28 grey: three 3×3 conv+BN+ReLU (pool after the 2nd and 3rd), fc1, fc2."""

    def __init__(self, in_channels=1, num_classes=10, widths=(32, 64, 128), hidden=256, size=28):
        super().__init__()
        c1, c2, c3 = widths
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(c3)
        self.fc1 = nn.Linear(c3 * (size // 4) ** 2, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.max_pool2d(F.relu(self.bn3(self.conv3(x))), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def tinycnn(in_channels=1, num_classes=10):
    return SmallCNN(in_channels, num_classes, widths=(16, 32, 64), hidden=128)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR layout: 3×3 stem, four stages of two BasicBlocks, 4×4 average pool, linear."""

    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        stages = []
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks = []
            for s in [stride, 1]:
                blocks.append(BasicBlock(cin, cout, s))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4).flatten(1)
        return self.linear(out)




class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        sc = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + sc


class PreActResNet18(nn.Module):
    """Pre-activation ResNet-18 as used in the adversarial-training literature (final BN + ReLU)."""

    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        cin, stages = 64, []
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks = []
            for s in [stride, 1]:
                blocks.append(PreActBlock(cin, cout, s))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        out = F.avg_pool2d(F.relu(self.bn(out)), 4).flatten(1)
        return self.linear(out)


class MBBlock(nn.Module):
    """MobileNetV2 inverted residual: 1×1 expand, 3×3 depthwise, 1×1 project."""

    def __init__(self, cin, cout, expansion, stride):
        super().__init__()
        self.stride = stride
        planes = expansion * cin
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class MobileNetV2(nn.Module):
    """CIFAR layout (stride 1 stem and first stages)."""
    CFG = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        layers, cin = [], 32
        for expansion, cout, n, stride in self.CFG:
            for s in [stride] + [1] * (n - 1):
                layers.append(MBBlock(cin, cout, expansion, s))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.conv2 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.linear = nn.Linear(1280, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(self.layers(out))))
        return self.linear(F.avg_pool2d(out, 4).flatten(1))


class ResNet56(nn.Module):
    """CIFAR ResNet-56 (3 stages of 9 BasicBlocks, widths 16/32/64) with projection shortcuts (conv + BN)."""

    def __init__(self, in_channels=3, num_classes=10, n=9):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin, stages = 16, []
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(BasicBlock(cin, cout, s))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class WRNBlock(nn.Module):
    """TRADES-layout wide block (pre-activation, convShortcut when the width changes)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        if self.equal:
            out = self.relu1(self.bn1(x))
            out = self.conv1(out)
        else:
            x = self.relu1(self.bn1(x))
            out = self.conv1(x)
        out = self.conv2(self.relu2(self.bn2(out)))
        return (x if self.equal else self.convShortcut(x)) + out


class NetworkBlock(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(*[WRNBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    """TRADES layout (keys conv1, block1..3, bn1, fc); `sub_block1` exists in TRADES checkpoints but is unused."""

    def __init__(self, in_channels=3, num_classes=10, depth=34, widen=10, sub_block1=True):
        super().__init__()
        w = [16, 16 * widen, 32 * widen, 64 * widen]
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, w[0], w[1], 1)
        if sub_block1:
            self.sub_block1 = NetworkBlock(n, w[0], w[1], 1)
        self.block2 = NetworkBlock(n, w[1], w[2], 2)
        self.block3 = NetworkBlock(n, w[2], w[3], 2)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.relu = nn.ReLU(inplace=False)
        self.fc = nn.Linear(w[3], num_classes)

    def forward(self, x):
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        return self.fc(F.avg_pool2d(out, 8).flatten(1))


class DMBlock(nn.Module):
    """DeepMind-style WRN block: Swish, explicit padding (asymmetric (0,1,0,1) before a stride-2 conv)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.batchnorm_0 = nn.BatchNorm2d(cin)
        self.conv_0 = nn.Conv2d(cin, cout, 3, stride, 0, bias=False)
        self.batchnorm_1 = nn.BatchNorm2d(cout)
        self.conv_1 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.has_shortcut = cin != cout
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if self.has_shortcut else None
        self.stride = stride

    def forward(self, x):
        if self.has_shortcut:
            x = F.silu(self.batchnorm_0(x))
            v = x
        else:
            out = F.silu(self.batchnorm_0(x))
            v = out
        v = F.pad(v, (1, 1, 1, 1) if self.stride == 1 else (0, 1, 0, 1))
        out = self.conv_0(v)
        out = self.conv_1(F.silu(self.batchnorm_1(out)))
        return (self.shortcut(x) if self.has_shortcut else x) + out


class DMBlockGroup(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.block = nn.ModuleList([DMBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)])

    def forward(self, x):
        for b in self.block:
            x = b(x)
        return x


class DMWideResNet(nn.Module):
    """`wrn-D-W`: keys init_conv, layer.<g>.block.<i>.*, batchnorm, logits; input normalised by mean/std."""

    def __init__(self, in_channels=3, num_classes=10, depth=28, width=10, mean=(0.4914, 0.4822, 0.4465),
                 std=(0.2471, 0.2435, 0.2616)):
        super().__init__()
        self.register_buffer("mean_", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std_", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        w = [16, 16 * width, 32 * width, 64 * width]
        n = (depth - 4) // 6
        self.init_conv = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
        self.layer = nn.Sequential(DMBlockGroup(n, w[0], w[1], 1), DMBlockGroup(n, w[1], w[2], 2),
                                   DMBlockGroup(n, w[2], w[3], 2))
        self.batchnorm = nn.BatchNorm2d(w[3])
        self.logits = nn.Linear(w[3], num_classes)

    def forward(self, x):
        out = self.init_conv((x - self.mean_) / self.std_)
        out = F.silu(self.batchnorm(self.layer(out)))
        return self.logits(F.avg_pool2d(out, 8).flatten(1))


ZOO = {
    "smallcnn": SmallCNN,
    "tinycnn": tinycnn,
    "resnet18": ResNet18,
    "preactresnet18": PreActResNet18,
    "mobilenetv2": MobileNetV2,
    "resnet56": ResNet56,
    "wrn-34-10": WideResNet,
    "wrn-28-10": lambda c=3, k=10: DMWideResNet(c, k, 28, 10),
}

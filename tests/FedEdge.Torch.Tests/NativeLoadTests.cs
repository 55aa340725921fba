using TorchSharp;
using static TorchSharp.torch;

namespace FedEdge.Torch.Tests;

/// <summary>Proves that libtorch loads on this machine (Debian 12) once the build step has run.</summary>
public sealed class NativeLoadTests
{
    [Fact]
    public void TinyNetwork_TrainsForFewSteps_LossFalls()
    {
        random.manual_seed(7);
        using var model = nn.Sequential(
            ("fc1", nn.Linear(4, 16)),
            ("relu", nn.ReLU()),
            ("fc2", nn.Linear(16, 1)));
        using Tensor x = rand(64, 4);
        using Tensor y = x.sum(1, keepdim: true) * 0.5;
        using var optimizer = optim.Adam(model.parameters(), lr: 0.05);
        using var loss = nn.MSELoss();

        float first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            optimizer.zero_grad();
            using Tensor output = model.forward(x);
            using Tensor l = loss.forward(output, y);
            l.backward();
            optimizer.step();
            float value = l.item<float>();
            if (step == 0)
            {
                first = value;
            }

            last = value;
        }

        Assert.True(float.IsFinite(first) && float.IsFinite(last));
        Assert.True(last < first * 0.5f, $"loss did not fall enough: first {first}, last {last}");
    }

    [Fact]
    public void CopiedNativeLibrary_OnOldLibStdCxx_HasWeakGlibcxx3432Requirement()
    {
        string lib = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!OperatingSystem.IsLinux() || !File.Exists(lib))
        {
            Assert.False(RepoPaths.IsCi, "CI runs on linux-x64 and must have the copied native library at " + lib);
            return;
        }

        (bool found, bool weak) = ElfVersionNeeds.Find(File.ReadAllBytes(lib), "GLIBCXX_3.4.32");
        Assert.True(found, "libLibTorchSharp.so no longer names GLIBCXX_3.4.32; revisit the build step");
        if (!ElfVersionNeeds.SystemLibStdCxxProvides("GLIBCXX_3.4.32"))
        {
            Assert.True(weak, "the build step did not mark GLIBCXX_3.4.32 weak in the copied library");
        }
    }
}

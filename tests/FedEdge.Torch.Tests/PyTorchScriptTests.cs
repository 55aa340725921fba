using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Torch.Tests;

/// <summary>
/// bench/pytorch/train_batch1.py, the Python PyTorch side of <c>bench train --engine pytorch</c>: it must build the same
/// network as Core's <see cref="NetworkSpec"/> (checked through the parameter count), train on the real N-BaIoT rows on
/// one thread, print the JSON the bench reads, and refuse bad input with exit code 2 and no traceback. Needs python3 with
/// torch (CI installs Debian's python3-torch in .ci/run).
/// </summary>
public sealed class PyTorchScriptTests : IDisposable
{
    private static readonly Lazy<string?> PythonWithTorch = new(FindPythonWithTorch);

    private readonly string _dir = Directory.CreateTempSubdirectory("fededge-pytorch-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Nets => new() { "mednn", "autoencoder" };

    [Theory]
    [MemberData(nameof(Nets))]
    public async Task Script_trains_the_catalog_network_on_one_thread_and_prints_its_figures(string net)
    {
        NetworkSpec spec = ModelCatalog.GetSpec(net);
        string csv = WriteRows(spec, rows: 300);
        var args = new List<string> { "--csv", csv, "--net", net, "--layers", string.Join('-', spec.LayerSizes), "--batch", "1", "--steps", "100", "--warmup", "0" };
        if (spec.IsAutoencoder)
        {
            args.Add("--autoencoder");
        }

        (int code, string stdout, string stderr) = await RunScriptAsync(args);

        Assert.True(code == 0, $"exit {code}: {stderr}");
        using JsonDocument doc = JsonDocument.Parse(stdout);
        JsonElement r = doc.RootElement;
        Assert.Equal("pytorch", r.GetProperty("engine").GetString());
        Assert.Equal(string.Join('-', spec.LayerSizes), r.GetProperty("layers").GetString());
        Assert.Equal(ParameterCount(spec), r.GetProperty("parameters").GetInt32());
        Assert.Equal(1, r.GetProperty("threads").GetInt32());
        Assert.Equal(100, r.GetProperty("steps").GetInt32());
        Assert.Equal(300, r.GetProperty("rows").GetInt32());
        double stepsPerSecond = r.GetProperty("steps_per_s").GetDouble();
        Assert.True(stepsPerSecond > 0);
        Assert.Equal(1e6 / stepsPerSecond, r.GetProperty("us_per_step").GetDouble(), 0.01 * 1e6 / stepsPerSecond);
        double loss = r.GetProperty("final_loss").GetDouble();
        Assert.True(double.IsFinite(loss) && loss >= 0, $"loss {loss}");
    }

    [Fact]
    public async Task Script_refuses_rows_that_do_not_fit_the_network_with_exit_2_and_no_traceback()
    {
        string csv = WriteRows(NetworkSpec.CoLearn, rows: 10);

        (int code, string stdout, string stderr) = await RunScriptAsync(["--csv", csv, "--net", "mednn", "--layers", "115-83-128-83-1", "--warmup", "0"]);

        Assert.Equal(2, code);
        Assert.Empty(stdout.Trim());
        Assert.Contains("expected 115 features + label", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Traceback", stderr, StringComparison.Ordinal);
    }

    private static int ParameterCount(NetworkSpec spec)
    {
        int n = 0;
        for (int l = 0; l < spec.LayerCount; l++)
        {
            n += (spec.LayerSizes[l] + 1) * spec.LayerSizes[l + 1];
        }

        return n;
    }

    private string WriteRows(NetworkSpec spec, int rows)
    {
        Dataset data = NbaiotReader.ReadDirectory(Path.Combine(RepoPaths.Data, "nbaiot"))[0].Data;
        data = MinMaxNormalizer.Fit(data).Transform(data.Select(Enumerable.Range(0, rows).ToArray()));
        if (ModelCatalog.FeatureSubsetOf(spec) is { } subset)
        {
            data = data.SelectFeatures(subset);
        }

        string path = Path.Combine(_dir, spec.Name + ".csv");
        var text = new StringBuilder(string.Join(',', data.FeatureNames)).Append(",label\n");
        for (int r = 0; r < data.Count; r++)
        {
            foreach (float v in data.Row(r))
            {
                text.Append(v.ToString("R", CultureInfo.InvariantCulture)).Append(',');
            }

            text.Append(data.Labels[r].ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        File.WriteAllText(path, text.ToString());
        return path;
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunScriptAsync(IEnumerable<string> args)
    {
        string script = Path.Combine(RepoPaths.Root, "bench", "pytorch", "train_batch1.py");
        string? python = PythonWithTorch.Value;
        Assert.True(python is not null, "python3 with torch is needed for this test: apt-get install python3-torch (CI installs it in .ci/run), or set FEDEDGE_PYTHON");
        var psi = new ProcessStartInfo(python!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    private static string? FindPythonWithTorch()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("FEDEDGE_PYTHON") is { Length: > 0 } env)
        {
            candidates.Add(env);
        }

        candidates.Add("python3");
        candidates.Add("/usr/bin/python3");
        foreach (string candidate in candidates)
        {
            try
            {
                var psi = new ProcessStartInfo(candidate) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add("-c");
                psi.ArgumentList.Add("import torch");
                using Process p = Process.Start(psi)!;
                p.StandardOutput.ReadToEnd();
                p.StandardError.ReadToEnd();
                p.WaitForExit(60_000);
                if (p.HasExited && p.ExitCode == 0)
                {
                    return candidate;
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed; try the next
            }
        }

        return null;
    }
}

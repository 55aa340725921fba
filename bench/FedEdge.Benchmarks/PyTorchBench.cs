using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FedEdge.Data;
using FedEdge.Training;

namespace FedEdge.Benchmarks;

/// <summary>
/// Runs <c>bench/pytorch/train_batch1.py</c> (plain PyTorch, one thread) on the same normalised rows the managed
/// trainer sees, so <c>train --engine pytorch|all</c> compares the two in one run.
/// </summary>
internal static class PyTorchBench
{
    /// <summary>How to get PyTorch when it is missing; printed instead of a figure.</summary>
    public const string InstallHint = "PyTorch for python3 is needed for --engine pytorch: apt-get install python3-torch (Debian/Ubuntu) or pip install torch; pick the interpreter with --python PATH or FEDEDGE_PYTHON";

    /// <summary>Writes the rows as CSV (features..., label) for the script.</summary>
    public static void WriteCsv(Dataset data, string path)
    {
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false));
        writer.Write(string.Join(',', data.FeatureNames.Select(n => n.Replace(',', '_'))));
        writer.WriteLine(",label");
        var line = new StringBuilder();
        for (int r = 0; r < data.Count; r++)
        {
            line.Clear();
            foreach (float v in data.Row(r))
            {
                line.Append(v.ToString("R", CultureInfo.InvariantCulture)).Append(',');
            }

            line.Append(data.Labels[r].ToString("R", CultureInfo.InvariantCulture));
            writer.WriteLine(line);
        }
    }

    /// <summary>The script in the source tree: bench/pytorch/train_batch1.py next to FedEdge.sln.</summary>
    public static string FindScript()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "bench", "pytorch", "train_batch1.py");
            if (File.Exists(Path.Combine(dir, "FedEdge.sln")) && File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("bench/pytorch/train_batch1.py not found; run the bench from the FedEdge source tree.");
    }

    /// <summary>
    /// The interpreters to try in order: --python, FEDEDGE_PYTHON, python3 on PATH, then /usr/bin/python3 (Debian's
    /// python3-torch installs into the system interpreter, which a pyenv or venv python3 on PATH does not see).
    /// </summary>
    public static IReadOnlyList<string> Interpreters(string? given)
    {
        if (!string.IsNullOrEmpty(given))
        {
            return [given];
        }

        var list = new List<string>();
        string? env = Environment.GetEnvironmentVariable("FEDEDGE_PYTHON");
        if (!string.IsNullOrEmpty(env))
        {
            list.Add(env);
        }

        list.Add("python3");
        if (File.Exists("/usr/bin/python3"))
        {
            list.Add("/usr/bin/python3");
        }

        return list;
    }

    /// <summary>Trains the network in PyTorch; null with <paramref name="error"/> set when no interpreter has torch.</summary>
    public static async Task<(Dictionary<string, object?>? Result, string? Error)> MeasureAsync(
        NetworkSpec spec, Dataset data, int batch, int steps, double warmupSeconds, string? python)
    {
        string script = FindScript();
        string csv = Path.Combine(Path.GetTempPath(), $"fededge-pytorch-{Environment.ProcessId}-{spec.Name}.csv");
        WriteCsv(data, csv);
        try
        {
            string? lastError = null;
            foreach (string interpreter in Interpreters(python))
            {
                var psi = new ProcessStartInfo(interpreter)
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (string a in new[]
                {
                    script, "--csv", csv, "--net", spec.Name, "--layers", string.Join('-', spec.LayerSizes),
                    "--batch", batch.ToString(CultureInfo.InvariantCulture), "--steps", steps.ToString(CultureInfo.InvariantCulture),
                    "--lr", "0.001", "--warmup", warmupSeconds.ToString(CultureInfo.InvariantCulture),
                })
                {
                    psi.ArgumentList.Add(a);
                }

                if (spec.IsAutoencoder)
                {
                    psi.ArgumentList.Add("--autoencoder");
                }

                psi.Environment["OMP_NUM_THREADS"] = "1";
                psi.Environment["MKL_NUM_THREADS"] = "1";
                Process process;
                try
                {
                    process = Process.Start(psi) ?? throw new Win32Exception($"{interpreter} did not start");
                }
                catch (Win32Exception)
                {
                    lastError = $"{interpreter} not found";
                    continue;
                }

                using (process)
                {
                    Task<string> stdout = process.StandardOutput.ReadToEndAsync();
                    Task<string> stderr = process.StandardError.ReadToEndAsync();
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(warmupSeconds + 900));
                    try
                    {
                        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        process.Kill(entireProcessTree: true);
                        return (null, $"{interpreter} {script} did not finish in {warmupSeconds + 900} s");
                    }

                    string output = await stdout.ConfigureAwait(false);
                    string errors = await stderr.ConfigureAwait(false);
                    if (process.ExitCode == 3)
                    {
                        lastError = $"{interpreter} has no torch module";
                        continue;
                    }

                    if (process.ExitCode != 0)
                    {
                        return (null, $"{interpreter} {Path.GetFileName(script)} exited with {process.ExitCode}: {errors.Trim()}");
                    }

                    var result = new Dictionary<string, object?> { ["python"] = interpreter };
                    using JsonDocument doc = JsonDocument.Parse(output);
                    foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                    {
                        result[p.Name] = p.Value.ValueKind switch
                        {
                            JsonValueKind.Number => p.Value.GetDouble(),
                            JsonValueKind.String => p.Value.GetString(),
                            _ => p.Value.ToString(),
                        };
                    }

                    return (result, null);
                }
            }

            return (null, $"{lastError}. {InstallHint}");
        }
        finally
        {
            File.Delete(csv);
        }
    }
}

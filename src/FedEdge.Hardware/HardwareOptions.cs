using Microsoft.Extensions.Options;

namespace FedEdge.Hardware;

/// <summary>Options of the hardware probes and the telemetry sampler. Validated when the host starts.</summary>
public sealed class HardwareOptions
{
    /// <summary>
    /// The folder the probes treat as <c>/</c>: "/" on a live device, or a copy of <c>/sys</c> and <c>/proc</c>
    /// (and canned <c>vcgencmd/*.txt</c>) for tests and <c>fededge device probe --root</c>.
    /// </summary>
    public string Root { get; set; } = "/";

    /// <summary>Run <c>vcgencmd</c> for the Raspberry Pi temperature and throttling flags.</summary>
    public bool UseVcgencmd { get; set; } = true;

    /// <summary>The <c>vcgencmd</c> executable (a name looked up on the PATH, or a path).</summary>
    public string VcgencmdPath { get; set; } = "vcgencmd";

    /// <summary>
    /// Canned <c>vcgencmd</c> output (<c>measure_temp.txt</c>, <c>get_throttled.txt</c>), used when the real tool is
    /// absent: a logical path under <see cref="Root"/>. Null means <c>/vcgencmd</c> when <see cref="Root"/> is not "/",
    /// and none on a live device.
    /// </summary>
    public string? CannedVcgencmdDirectory { get; set; }

    /// <summary>How long a tool may run before it is killed (1 ms to 1 min).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The sampler's period (100 ms to 1 h).</summary>
    public TimeSpan SamplePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How old the latest snapshot may be before <c>ReadAsync</c> probes again (0 = always probe).</summary>
    public TimeSpan MaxSnapshotAge { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Checks the options; throws <see cref="OptionsValidationException"/> with every failure.</summary>
    public void Validate()
    {
        ValidateOptionsResult result = new HardwareOptionsValidator().Validate(null, this);
        if (result.Failed)
        {
            throw new OptionsValidationException(nameof(HardwareOptions), typeof(HardwareOptions), result.Failures);
        }
    }
}

/// <summary>Validates <see cref="HardwareOptions"/>.</summary>
internal sealed class HardwareOptionsValidator : IValidateOptions<HardwareOptions>
{
    public ValidateOptionsResult Validate(string? name, HardwareOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string> failures = [];
        if (string.IsNullOrWhiteSpace(options.Root) || !Path.IsPathRooted(options.Root))
        {
            failures.Add($"{nameof(HardwareOptions.Root)} must be an absolute folder path, got '{options.Root}'.");
        }
        else if (!Directory.Exists(options.Root))
        {
            failures.Add($"{nameof(HardwareOptions.Root)} '{options.Root}' does not exist.");
        }

        if (options.UseVcgencmd && string.IsNullOrWhiteSpace(options.VcgencmdPath))
        {
            failures.Add($"{nameof(HardwareOptions.VcgencmdPath)} must name the vcgencmd executable when {nameof(HardwareOptions.UseVcgencmd)} is true.");
        }

        if (options.CannedVcgencmdDirectory is { } canned && !canned.StartsWith('/'))
        {
            failures.Add($"{nameof(HardwareOptions.CannedVcgencmdDirectory)} must be a logical path under the root starting with '/', got '{canned}'.");
        }

        if (options.CommandTimeout < TimeSpan.FromMilliseconds(1) || options.CommandTimeout > TimeSpan.FromMinutes(1))
        {
            failures.Add($"{nameof(HardwareOptions.CommandTimeout)} must be between 1 ms and 1 min, got {options.CommandTimeout}.");
        }

        if (options.SamplePeriod < TimeSpan.FromMilliseconds(100) || options.SamplePeriod > TimeSpan.FromHours(1))
        {
            failures.Add($"{nameof(HardwareOptions.SamplePeriod)} must be between 100 ms and 1 h, got {options.SamplePeriod}.");
        }

        if (options.MaxSnapshotAge < TimeSpan.Zero)
        {
            failures.Add($"{nameof(HardwareOptions.MaxSnapshotAge)} must not be negative, got {options.MaxSnapshotAge}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

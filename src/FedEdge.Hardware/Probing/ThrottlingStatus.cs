using System.Globalization;

namespace FedEdge.Hardware;

/// <summary>The bits of Raspberry Pi's <c>vcgencmd get_throttled</c>.</summary>
[Flags]
public enum ThrottlingFlags : uint
{
    /// <summary>No flag set.</summary>
    None = 0,

    /// <summary>Bit 0: under-voltage detected now.</summary>
    UnderVoltage = 1u << 0,

    /// <summary>Bit 1: ARM frequency capped now.</summary>
    ArmFrequencyCapped = 1u << 1,

    /// <summary>Bit 2: currently throttled.</summary>
    CurrentlyThrottled = 1u << 2,

    /// <summary>Bit 3: soft temperature limit active.</summary>
    SoftTemperatureLimitActive = 1u << 3,

    /// <summary>Bit 16: under-voltage has occurred since boot.</summary>
    UnderVoltageOccurred = 1u << 16,

    /// <summary>Bit 17: ARM frequency capping has occurred since boot.</summary>
    ArmFrequencyCappingOccurred = 1u << 17,

    /// <summary>Bit 18: throttling has occurred since boot.</summary>
    ThrottlingOccurred = 1u << 18,

    /// <summary>Bit 19: the soft temperature limit has occurred since boot.</summary>
    SoftTemperatureLimitOccurred = 1u << 19,
}

/// <summary>A decoded <c>vcgencmd get_throttled</c> value, e.g. <c>throttled=0x50005</c>.</summary>
/// <param name="Raw">The raw 32-bit value.</param>
public readonly record struct ThrottlingStatus(uint Raw)
{
    /// <summary>All bits the firmware documents.</summary>
    public const ThrottlingFlags KnownFlags = ThrottlingFlags.UnderVoltage | ThrottlingFlags.ArmFrequencyCapped
        | ThrottlingFlags.CurrentlyThrottled | ThrottlingFlags.SoftTemperatureLimitActive
        | ThrottlingFlags.UnderVoltageOccurred | ThrottlingFlags.ArmFrequencyCappingOccurred
        | ThrottlingFlags.ThrottlingOccurred | ThrottlingFlags.SoftTemperatureLimitOccurred;

    private const ThrottlingFlags NowFlags = ThrottlingFlags.ArmFrequencyCapped | ThrottlingFlags.CurrentlyThrottled | ThrottlingFlags.SoftTemperatureLimitActive;

    /// <summary>The documented flags that are set.</summary>
    public ThrottlingFlags Flags => (ThrottlingFlags)Raw & KnownFlags;

    /// <summary>Set bits the firmware does not document (kept, never dropped silently).</summary>
    public uint UnknownBits => Raw & ~(uint)KnownFlags;

    /// <summary>Bit 0.</summary>
    public bool UnderVoltage => Has(ThrottlingFlags.UnderVoltage);

    /// <summary>Bit 1.</summary>
    public bool ArmFrequencyCapped => Has(ThrottlingFlags.ArmFrequencyCapped);

    /// <summary>Bit 2.</summary>
    public bool CurrentlyThrottled => Has(ThrottlingFlags.CurrentlyThrottled);

    /// <summary>Bit 3.</summary>
    public bool SoftTemperatureLimitActive => Has(ThrottlingFlags.SoftTemperatureLimitActive);

    /// <summary>Bit 16.</summary>
    public bool UnderVoltageOccurred => Has(ThrottlingFlags.UnderVoltageOccurred);

    /// <summary>Bit 17.</summary>
    public bool ArmFrequencyCappingOccurred => Has(ThrottlingFlags.ArmFrequencyCappingOccurred);

    /// <summary>Bit 18.</summary>
    public bool ThrottlingOccurred => Has(ThrottlingFlags.ThrottlingOccurred);

    /// <summary>Bit 19.</summary>
    public bool SoftTemperatureLimitOccurred => Has(ThrottlingFlags.SoftTemperatureLimitOccurred);

    /// <summary>True when the SoC runs slower than it could right now (bits 1–3).</summary>
    public bool IsThrottledNow => (Flags & NowFlags) != 0;

    /// <summary>Every documented flag by its JSON name (camelCase), in bit order, with its value.</summary>
    public IReadOnlyList<KeyValuePair<string, bool>> NamedFlags =>
    [
        new("underVoltage", UnderVoltage),
        new("armFrequencyCapped", ArmFrequencyCapped),
        new("currentlyThrottled", CurrentlyThrottled),
        new("softTemperatureLimitActive", SoftTemperatureLimitActive),
        new("underVoltageOccurred", UnderVoltageOccurred),
        new("armFrequencyCappingOccurred", ArmFrequencyCappingOccurred),
        new("throttlingOccurred", ThrottlingOccurred),
        new("softTemperatureLimitOccurred", SoftTemperatureLimitOccurred),
    ];

    /// <summary>The value as the firmware prints it, e.g. <c>0x50005</c>.</summary>
    public override string ToString() => "0x" + Raw.ToString("x", CultureInfo.InvariantCulture);

    private bool Has(ThrottlingFlags flag) => (Raw & (uint)flag) != 0;
}

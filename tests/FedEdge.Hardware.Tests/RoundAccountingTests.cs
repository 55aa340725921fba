using FedEdge.Devices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FedEdge.Hardware.Tests;

public sealed class RoundAccountingTests
{
    [Fact]
    public void Snapshot_ConcurrentAdds_SumsPerDevice()
    {
        RoundAccounting accounting = new(3);
        Parallel.For(0, 4000, i =>
        {
            string device = $"pi-{i % 4}";
            accounting.AddBytesUp(device, 10);
            accounting.AddBytesDown(device, 3);
            accounting.AddTrainingTime(device, TimeSpan.FromMilliseconds(2));
            accounting.AddWaitingTime(device, TimeSpan.FromMilliseconds(1));
        });

        RoundUsage usage = accounting.Snapshot();
        Assert.Equal(3, usage.Round);
        Assert.Equal(new[] { "pi-0", "pi-1", "pi-2", "pi-3" }, usage.Devices.Select(d => d.DeviceId));
        Assert.All(usage.Devices, d =>
        {
            Assert.Equal(10_000, d.BytesUp);
            Assert.Equal(3_000, d.BytesDown);
            Assert.Equal(TimeSpan.FromSeconds(2), d.TrainingTime);
            Assert.Equal(TimeSpan.FromSeconds(1), d.WaitingTime);
        });
        Assert.Equal(40_000, usage.TotalBytesUp);
        Assert.Equal(12_000, usage.TotalBytesDown);
        Assert.Equal(TimeSpan.FromSeconds(8), usage.TotalTrainingTime);
        Assert.Equal(TimeSpan.FromSeconds(4), usage.TotalWaitingTime);
    }

    [Fact]
    public void Snapshot_TelemetryAndGovernorNote_ShownPerDevice()
    {
        RoundAccounting accounting = new(1);
        accounting.RecordTelemetry("pi4", new DeviceTelemetry { TemperatureCelsius = 58.04, Throttled = false });
        accounting.RecordTelemetry("sim", new DeviceTelemetry());
        accounting.RecordGovernorNote("pi4", "thermal: warm");

        RoundUsage usage = accounting.Snapshot();
        Assert.Equal("58.0 °C", usage.Devices[0].TemperatureText);
        Assert.Equal("thermal: warm", usage.Devices[0].GovernorNote);
        Assert.Equal("n/a", usage.Devices[1].TemperatureText);
        Assert.Null(usage.Devices[1].Throttled);
        Assert.Equal(58.04, usage.MaxTemperatureCelsius);
    }

    [Fact]
    public void ToTable_TwoDevices_OneLinePerDeviceAndTotal()
    {
        RoundAccounting accounting = new(4);
        accounting.AddBytesUp("pi3b-plus", 4096);
        accounting.AddBytesDown("pi3b-plus", 8192);
        accounting.AddTrainingTime("pi3b-plus", TimeSpan.FromSeconds(1.5));
        accounting.AddWaitingTime("pi3b-plus", TimeSpan.FromSeconds(0.25));
        accounting.RecordTelemetry("pi3b-plus", new DeviceTelemetry { TemperatureCelsius = 58.0, Throttled = false });
        accounting.AddBytesUp("sim-1", 100);

        string[] lines = accounting.Snapshot().ToTable().Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal("round 4", lines[0].Trim());
        Assert.Equal(5, lines.Length);
        Assert.Matches(@"^pi3b-plus\s+4096\s+8192\s+1\.500\s+0\.250\s+58\.0 °C\s+no", lines[2]);
        Assert.Matches(@"^sim-1\s+100\s+0\s+0\.000\s+0\.000\s+n/a\s+n/a", lines[3]);
        Assert.Matches(@"^total\s+4196\s+8192\s+1\.500\s+0\.250\s+58\.0 °C", lines[4]);
    }

    [Fact]
    public void Add_BadArguments_Throw()
    {
        RoundAccounting accounting = new(0);
        Assert.Throws<ArgumentOutOfRangeException>(() => accounting.AddBytesUp("a", -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => accounting.AddTrainingTime("a", TimeSpan.FromTicks(-1)));
        Assert.Throws<ArgumentException>(() => accounting.AddBytesDown(" ", 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundAccounting(-1));
    }

    [Fact]
    public void Combine_TwoRounds_SumsAndKeepsHottest()
    {
        RoundAccounting r1 = new(1);
        r1.AddBytesUp("a", 100);
        r1.RecordTelemetry("a", new DeviceTelemetry { TemperatureCelsius = 61, Throttled = true });
        RoundAccounting r2 = new(2);
        r2.AddBytesUp("a", 50);
        r2.AddBytesDown("b", 7);
        r2.RecordTelemetry("a", new DeviceTelemetry { TemperatureCelsius = 55, Throttled = false });

        RoundUsage all = RoundUsage.Combine([r1.Snapshot(), r2.Snapshot()]);

        Assert.Equal(2, all.Round);
        Assert.Equal(150, all.Devices[0].BytesUp);
        Assert.Equal(61, all.Devices[0].TemperatureCelsius);
        Assert.True(all.Devices[0].Throttled);
        Assert.Equal(7, all.Devices[1].BytesDown);
    }

    [Property(MaxTest = 200)]
    public Property Combine_AnyRounds_TotalsAreSums()
    {
        Gen<(int Device, int Up, int Down, int TrainMs)> entry =
            from d in Gen.Choose(0, 5)
            from up in Gen.Choose(0, 1_000_000)
            from down in Gen.Choose(0, 1_000_000)
            from ms in Gen.Choose(0, 60_000)
            select (d, up, down, ms);
        Gen<(int Device, int Up, int Down, int TrainMs)[][]> rounds = entry.ArrayOf().ArrayOf();
        return Prop.ForAll(rounds.ToArbitrary(), data =>
        {
            List<RoundUsage> usages = [];
            for (int r = 0; r < data.Length; r++)
            {
                RoundAccounting a = new(r);
                foreach (var e in data[r])
                {
                    a.AddBytesUp($"d{e.Device}", e.Up);
                    a.AddBytesDown($"d{e.Device}", e.Down);
                    a.AddTrainingTime($"d{e.Device}", TimeSpan.FromMilliseconds(e.TrainMs));
                }

                usages.Add(a.Snapshot());
            }

            RoundUsage combined = RoundUsage.Combine(usages);
            Assert.Equal(usages.Sum(u => u.TotalBytesUp), combined.TotalBytesUp);
            Assert.Equal(usages.Sum(u => u.TotalBytesDown), combined.TotalBytesDown);
            Assert.Equal(usages.Sum(u => u.TotalTrainingTime.Ticks), combined.TotalTrainingTime.Ticks);
            Assert.Equal(data.SelectMany(x => x).Select(e => e.Device).Distinct().Count(), combined.Devices.Count);
        });
    }
}

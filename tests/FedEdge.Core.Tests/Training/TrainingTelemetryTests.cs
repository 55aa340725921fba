using System.Diagnostics.Metrics;
using FedEdge.Training;

namespace FedEdge.Core.Tests.Training;

public sealed class TrainingTelemetryTests
{
    [Fact]
    public async Task TrainAsync_CountsStepsOnTheFactoryMeter()
    {
        using var factory = new OwnMeterFactory();
        long steps = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, factory.Created) && instrument.Name == "fededge.training.steps")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref steps, value));
        listener.Start();
        var trainer = new ManagedTrainer(NetworkSpec.CoLearn, new ManagedTrainerOptions { MeterFactory = factory });
        await trainer.TrainAsync(ManagedTrainerTests.Request(NetworkSpec.CoLearn.InitializeParameters(1), ManagedTrainerTests.SmallData(), new TrainingHyperParameters { LocalIterations = 13 }));
        Assert.Equal(13, Interlocked.Read(ref steps));
        Assert.Equal("FedEdge.Core", factory.Created!.Name);
    }

    private sealed class OwnMeterFactory : IMeterFactory
    {
        public Meter? Created { get; private set; }

        public Meter Create(MeterOptions options) => Created = new Meter(options);

        public void Dispose() => Created?.Dispose();
    }
}

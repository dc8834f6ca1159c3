using Engine.Cli;

return EngineCommandLine.Run(args);

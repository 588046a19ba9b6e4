print("gradc")
